"""Nodes of the ``export`` pipeline."""

from __future__ import annotations

from typing import Any

from torch import nn

from deepvision.data.imageset import ImageSet
from deepvision.pipelines.params import parse_export
from deepvision.serving import Preprocessing, check_parity, export_onnx, onnx_parity


def export_model(trained_model: nn.Module, export: dict[str, Any]) -> bytes:
    """The model as ONNX: uint8 N×C×H×W images in (batch dynamic), logits out."""
    return export_onnx(trained_model, opset=parse_export(export).opset)


def check_onnx(trained_model: nn.Module, onnx_model: bytes, test_split: ImageSet,
               export: dict[str, Any]) -> dict[str, Any]:
    """ONNX Runtime vs eager PyTorch on the test images; fails loudly past the tolerance."""
    cfg = parse_export(export)
    pre = Preprocessing.of_model(trained_model)
    if test_split.channels != pre.channels or test_split.image_size != pre.image_size:
        raise ValueError(f"test_split images are {test_split.channels}×{test_split.image_size}, "
                         f"the model takes {pre.channels}×{pre.image_size}: export the model "
                         "with the test split it was trained with")
    parity = onnx_parity(trained_model, onnx_model, test_split.images[:cfg.parity_images], pre)
    check_parity(parity, cfg.tolerance)
    return {**parity, "tolerance": cfg.tolerance, "input": "uint8 N×C×H×W, N dynamic",
            "input_shape": [pre.channels, *pre.image_size], "class_names": list(pre.class_names)}
