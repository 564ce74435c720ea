"""Nodes of the ``train`` pipeline."""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import nn

from deepvision.data.imageset import ImageSet
from deepvision.data.shards import ShardSet, batch_source
from deepvision.data.transforms import build_augment, normalize
from deepvision.engine import TrainHooks, fit
from deepvision.pipelines.metrics import history_metrics
from deepvision.pipelines.params import parse_augment, parse_data, parse_train

CURVES = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds",
          "val_seconds",
          "images_per_second")


def train_model(initial_model: nn.Module, train_split: ImageSet | ShardSet, val_split: ImageSet,
                train: dict[str, Any], augment: dict[str, Any],
                data: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """Fit the model with the configured loop and augmentation; keep the best epoch's weights."""
    cfg = parse_train(train)
    policy = build_augment(parse_augment(augment), train_split.mean, train_split.std,
                           num_classes=train_split.num_classes)
    result = fit(initial_model, batch_source(train_split, parse_data(data)),
                 (val_split.images, val_split.labels) if len(val_split) else None, cfg,
                 TrainHooks(train_transform=policy, eval_transform=partial(
                     normalize, mean=train_split.mean, std=train_split.std)),
                 fingerprint={"model": initial_model.spec.to_dict(), "augment": augment,
                              "data": [len(train_split), len(val_split), train_split.image_size]})
    result.model.meta = dict(initial_model.meta)
    summary = {"best_epoch": result.best_epoch, f"best_{cfg.monitor}": result.best_metric,
               "train_seconds": result.train_seconds, "epochs_run": len(result.history),
               # the precision train.precision resolved to (auto → bf16 or fp32), as a metric
               "train_bf16": float(result.config["precision"] == "bf16")}
    return result.model, {**summary, "history": result.history}


def training_metrics(training_history: dict[str, Any]) -> tuple[dict, dict]:
    """Per-epoch curves (step = epoch) and the run's summary, in MLflow's metric format."""
    return history_metrics(training_history, CURVES)
