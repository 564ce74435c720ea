"""``export``: the trained model as ONNX (normalisation inside, dynamic batch), checked against
eager PyTorch on real test images."""

from deepvision.pipelines.export.pipeline import create_pipeline

__all__ = ["create_pipeline"]
