"""One row per compression stage: accuracy, the challenge score and its parts, size and speed —
everything measured on the same test images, device and threads, so the rows compare."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from deepvision.compression.score import model_score
from deepvision.engine.loop import EvalTransform, predict
from deepvision.evaluation.cost import inference_cost
from deepvision.models.bundle import bundle_size_mb

COLUMNS = ("stage", "test_accuracy", "challenge_score", "weight_term", "mac_term", "p_s", "p_u",
           "q_w", "q_a", "w", "f", "parameters", "macs", "file_mb", "latency_ms_batch1",
           "throughput_images_per_s", "notes")


def stage_row(stage: str, model: nn.Module, images: Tensor, labels: Tensor,
              transform: EvalTransform, device: torch.device, timing: dict[str, Any],
              batch_size: int = 512) -> dict[str, Any]:
    """The ``COLUMNS`` of ``model`` on the test ``images``/``labels`` (uint8, then
    ``transform``); ``timing`` holds ``inference_cost``'s keyword arguments."""
    input_shape = tuple(images.shape[1:])
    # predict() moves the model and sets eval mode in place: work on a copy.
    logits = predict(copy.deepcopy(model), images, batch_size, transform, device, "fp32",
                     timing.get("channels_last", True))
    cost = inference_cost(model, input_shape, device, **timing)
    notes = getattr(model, "float_layers", [])
    return {"stage": stage,
            "test_accuracy": (logits.argmax(1) == labels.cpu()).float().mean().item(),
            **model_score(model, input_shape).as_metrics(),
            "parameters": cost["parameters"], "macs": cost["macs"],
            "file_mb": bundle_size_mb(model),
            "latency_ms_batch1": cost[next(k for k in cost if k.startswith("latency_ms"))],
            "throughput_images_per_s": cost["throughput_images_per_s"],
            "notes": f"left in float: {', '.join(notes)}" if notes else ""}


def stage_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """MLflow metrics ``<stage>.<column>`` for every numeric column of every row."""
    return {f"{r['stage']}.{k}": {"step": 0, "value": float(v)} for r in rows
            for k, v in r.items() if isinstance(v, int | float) and not isinstance(v, bool)}
