"""Wiring of the ``evaluate`` pipeline: ``trained_model`` + ``test_split`` → metrics, tables and
figures in ``data/08_reporting`` and MLflow.

Run alone, it evaluates the latest ``trained_model`` in the catalog, or the one chosen with
``kedro run --pipelines evaluate --load-versions trained_model:<version>``.
"""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.evaluate.nodes import (
    combine_metrics,
    confident_errors_plot,
    confusion_plot,
    confusion_table,
    evaluate_test,
    measure_cost,
    metrics_for_mlflow,
    per_class_table,
    predict_test,
    reliability_plot,
)


def metrics_pipeline(train: str = "params:train") -> Pipeline:
    """``trained_model`` → ``evaluation`` and ``test_metrics``; ``train`` names the input holding
    the training parameters (device, eval batch size, precision), so the study can pass its own."""
    return Pipeline([
        Node(predict_test, inputs=["trained_model", "test_split", train, "params:evaluate"],
             outputs="test_logits", name="predict_test"),
        Node(evaluate_test,
             inputs=["test_logits", "test_split", "trained_model", "params:evaluate"],
             outputs="evaluation", name="evaluate_test"),
        Node(measure_cost, inputs=["trained_model", "test_split", train, "params:evaluate"],
             outputs="inference_cost", name="measure_cost"),
        Node(combine_metrics, inputs=["evaluation", "inference_cost", "test_split"],
             outputs="test_metrics", name="combine_metrics"),
    ])


def report_pipeline() -> Pipeline:
    """``evaluation`` and ``test_metrics`` → MLflow metrics, CSV tables and figures."""
    return Pipeline([
        Node(metrics_for_mlflow, inputs="test_metrics", outputs="test_metrics_mlflow",
             name="metrics_for_mlflow"),
        Node(per_class_table, inputs="evaluation", outputs="per_class_metrics",
             name="per_class_table"),
        Node(confusion_table, inputs="evaluation", outputs="confusion_matrix_csv",
             name="confusion_table"),
        Node(confusion_plot, inputs="evaluation", outputs="confusion_matrix_plot",
             name="confusion_plot"),
        Node(reliability_plot, inputs="evaluation", outputs="reliability_plot",
             name="reliability_plot"),
        Node(confident_errors_plot, inputs=["evaluation", "test_split"],
             outputs="confident_errors_plot", name="confident_errors_plot"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([metrics_pipeline(), report_pipeline()], tags=["evaluate"])
