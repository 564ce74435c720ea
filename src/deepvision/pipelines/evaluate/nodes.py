"""Nodes of the ``evaluate`` pipeline."""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import nn

from deepvision.data.imageset import ImageSet
from deepvision.data.transforms import normalize
from deepvision.engine import evaluate, resolve_device
from deepvision.pipelines.params import parse_train


def evaluate_model(trained_model: nn.Module, test_split: ImageSet,
                   train: dict[str, Any]) -> dict[str, float]:
    """Test loss and accuracy, the input normalised with the statistics the model was trained on."""
    cfg = parse_train(train)
    meta = trained_model.meta
    scores = evaluate(trained_model, test_split.images, test_split.labels, cfg,
                      partial(normalize, mean=meta["mean"], std=meta["std"]),
                      resolve_device(cfg.device))
    return {"test_accuracy": scores["accuracy"], "test_loss": scores["loss"],
            "test_images": len(test_split)}


def metrics_for_mlflow(test_metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """The same numbers in MLflow's metric format."""
    return {k: {"step": 0, "value": float(v)} for k, v in test_metrics.items()}
