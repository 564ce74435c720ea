"""Wiring of the ``predict`` pipeline."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.predict.nodes import label_images, select_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(select_model, inputs="params:predict", outputs="predict_model", name="select_model"),
        Node(label_images, inputs=["predict_model", "params:predict"],
             outputs=["predictions", "predict_report"], name="label_images"),
    ], tags=["predict"])
