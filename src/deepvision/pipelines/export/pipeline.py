"""Wiring of the ``export`` pipeline."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.export.nodes import check_onnx, export_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(export_model, inputs=["trained_model", "params:export"], outputs="onnx_model",
             name="export_model"),
        Node(check_onnx, inputs=["trained_model", "onnx_model", "test_split", "params:export"],
             outputs="onnx_parity", name="check_onnx"),
    ], tags=["export"])
