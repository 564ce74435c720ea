"""Wiring of the ``compress`` pipeline: ``trained_model`` (or ``compress.model``) → the stages of
``compress.steps`` as versioned bundles → one comparison table, its MLflow metrics and a Pareto
plot.

``kedro run --pipelines compress`` takes the newest ``trained_model``;
``--load-versions trained_model:<version>`` another one; ``compress.model: checkpoint:<path>``
or ``mlflow:runs:/<id>/model`` a bundle from elsewhere.
"""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.compress.nodes import (
    compare_stages,
    comparison_metrics,
    comparison_plot,
    compress_stages,
    final_stage,
    select_model,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(select_model, inputs=["trained_model", "params:compress"],
             outputs="compress_input_model", name="select_model"),
        Node(compress_stages,
             inputs=["compress_input_model", "train_split", "val_split", "params:compress",
                     "params:train", "params:augment"],
             outputs="compression_stages", name="compress_stages"),
        Node(final_stage, inputs="compression_stages", outputs="compressed_model",
             name="final_stage"),
        Node(compare_stages,
             inputs=["compression_stages", "test_split", "params:train", "params:evaluate"],
             outputs="compression_comparison", name="compare_stages"),
        Node(comparison_metrics, inputs="compression_comparison",
             outputs="compression_metrics", name="comparison_metrics"),
        Node(comparison_plot, inputs="compression_comparison",
             outputs="compression_pareto_plot", name="comparison_plot"),
    ], tags=["compress"])
