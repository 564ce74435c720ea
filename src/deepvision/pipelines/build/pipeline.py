"""Wiring of the ``build`` pipeline."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.build.nodes import build_model, model_card_metrics


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(build_model, inputs=["train_split", "params:model"],
             outputs=["initial_model", "model_card"], name="build_model"),
        Node(model_card_metrics, inputs="model_card", outputs="model_card_mlflow",
             name="model_card_metrics"),
    ], tags=["build"])
