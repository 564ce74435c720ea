"""Wiring of the ``evaluate`` pipeline."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.evaluate.nodes import evaluate_model, metrics_for_mlflow


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(evaluate_model, inputs=["trained_model", "test_split", "params:train"],
             outputs="test_metrics", name="evaluate_model"),
        Node(metrics_for_mlflow, inputs="test_metrics", outputs="test_metrics_mlflow",
             name="metrics_for_mlflow"),
    ], tags=["evaluate"])
