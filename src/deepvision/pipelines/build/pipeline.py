"""Wiring of the ``build`` pipeline."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.build.nodes import build_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(build_model, inputs=["train_split", "params:model"],
             outputs=["initial_model", "model_card"], name="build_model"),
    ], tags=["build"])
