"""ONNX export with the normalisation inside, a parity check against eager PyTorch, and ONNX
Runtime's cost beside eager's.

The exported graph takes uint8 N×C×H×W images at the training size (dynamic batch axis) and
returns logits: ``(x / 255 − mean) / std`` is part of it, so a consumer only decodes, resizes and
converts channels (``Preprocessing.prepare``; the exporter's graph has no image decoder). The
exporter is torch's current one (``torch.export`` + onnxscript, ``dynamo=True``); the TorchScript
one is deprecated.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from deepvision.serving.preprocess import Preprocessing

INPUT, OUTPUT = "images", "logits"


@dataclass(frozen=True)
class ExportConfig:
    """``export`` parameters: the ONNX file and its parity check on real test images."""

    opset: int | None = None  # ONNX opset; null: the exporter's current default
    parity_images: int = 512  # test images compared between ONNX Runtime and eager PyTorch
    tolerance: float = 1e-4  # max |logit difference| allowed (labels must all agree)

    def __post_init__(self) -> None:
        from deepvision.config import check_range

        if self.opset is not None:
            check_range(self.opset, "export.opset", 7)
        check_range(self.parity_images, "export.parity_images", 1)
        check_range(self.tolerance, "export.tolerance", 0)


class Normalized(nn.Module):
    """``model`` behind the bundle's normalisation: uint8 images in, logits out."""

    def __init__(self, model: nn.Module, pre: Preprocessing) -> None:
        super().__init__()
        self.model = model
        shape = (1, pre.channels, 1, 1)
        self.register_buffer("scale", torch.tensor([1 / (255 * s) for s in pre.std]).view(shape))
        self.register_buffer("shift", torch.tensor(
            [m / s for m, s in zip(pre.mean, pre.std, strict=True)]).view(shape))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.float() * self.scale - self.shift)


def export_onnx(model: nn.Module, pre: Preprocessing | None = None,
                opset: int | None = None) -> bytes:
    """The ONNX model (bytes) of ``model`` with its preprocessing's normalisation, batch dynamic."""
    pre = pre or Preprocessing.of_model(model)
    net = Normalized(copy.deepcopy(model).float().eval(), pre).eval()
    example = torch.zeros((2, pre.channels, *pre.image_size), dtype=torch.uint8)
    program = torch.onnx.export(net, (example,), input_names=[INPUT], output_names=[OUTPUT],
                                opset_version=opset, dynamo=True, verbose=False,
                                dynamic_shapes={"images": {0: torch.export.Dim("batch")}})
    return program.model_proto.SerializeToString()


def onnx_session(onnx_model: bytes, threads: int = 0) -> Any:
    """An ONNX Runtime CPU session (``threads`` 0: its default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])


@torch.inference_mode()
def onnx_parity(model: nn.Module, onnx_model: bytes, images: torch.Tensor,
                pre: Preprocessing | None = None, batch_size: int = 256) -> dict[str, float]:
    """Max |logit difference| and label agreement of ONNX Runtime vs eager PyTorch on ``images``
    (uint8 N×C×H×W at the training size)."""
    pre = pre or Preprocessing.of_model(model)
    net = Normalized(copy.deepcopy(model).float().eval(), pre).eval()
    session = onnx_session(onnx_model)
    diff, agree = 0.0, 0
    for i in range(0, len(images), batch_size):
        batch = images[i:i + batch_size]
        eager = net(batch).numpy()
        ort_logits = session.run([OUTPUT], {INPUT: batch.numpy()})[0]
        diff = max(diff, float(np.abs(eager - ort_logits).max()))
        agree += int((eager.argmax(1) == ort_logits.argmax(1)).sum())
    return {"max_abs_logit_diff": diff, "label_agreement": agree / max(1, len(images)),
            "images": len(images)}


def check_parity(parity: dict[str, float], tolerance: float) -> None:
    """Fail loudly when ONNX Runtime and eager PyTorch disagree beyond ``tolerance``."""
    if parity["max_abs_logit_diff"] > tolerance or parity["label_agreement"] < 1.0:
        raise RuntimeError(
            f"ONNX parity failed on {parity['images']} test images: max |logit diff| "
            f"{parity['max_abs_logit_diff']:.3g} (tolerance {tolerance:g}), label agreement "
            f"{parity['label_agreement']:.2%}; the ONNX file is not a faithful copy: do not "
            "ship it")


def onnx_cost(onnx_model: bytes, input_shape: Sequence[int],
              batch_sizes: Sequence[int] = (1, 256), warmup: int = 5, repeats: int = 20,
              max_seconds: float = 0.25, threads: int = 0) -> dict[str, float]:
    """ONNX Runtime (CPU) latency at the first batch size and images/s at the last, timed as
    ``evaluation.cost.inference_cost`` times eager PyTorch (median after a warm-up)."""
    session = onnx_session(onnx_model, threads)
    small, large = batch_sizes[0], batch_sizes[-1]
    rng = np.random.default_rng(0)

    def median(batch: int) -> float:
        x = {INPUT: rng.integers(0, 256, (batch, *input_shape), dtype=np.uint8)}
        spent = 0.0
        for _ in range(warmup):
            spent += _seconds(session, x)
            if spent > max_seconds:
                break
        times: list[float] = []
        while len(times) < max(1, repeats) and (len(times) < 3 or sum(times) < max_seconds):
            times.append(_seconds(session, x))
        return statistics.median(times)

    latency = median(small)
    batch_s = latency if large == small else median(large)
    return {f"onnx_latency_ms_batch{small}": latency * 1e3,
            "onnx_throughput_images_per_s": large / batch_s}


def _seconds(session: Any, feed: dict[str, np.ndarray]) -> float:
    start = time.perf_counter()
    session.run([OUTPUT], feed)
    return time.perf_counter() - start
