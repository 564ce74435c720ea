"""Nodes of the ``pretrain`` pipeline."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from deepvision.data.imageset import ImageSet
from deepvision.data.transforms import build_augment, normalize
from deepvision.models.registry import create_model
from deepvision.pipelines.metrics import history_metrics
from deepvision.pipelines.params import parse_model, parse_pretrain
from deepvision.ssl import pretrain as learn_self_supervised

CURVES = ("train_loss", "val_knn_accuracy", "lr", "epoch_seconds", "images_per_second")


def pretrain_backbone(train_split: ImageSet, val_split: ImageSet, pretrain: dict[str, Any],
                      train: dict[str, Any], augment: dict[str, Any], model: dict[str, Any],
                      ) -> tuple[nn.Module, dict[str, Any]]:
    """``params:model``'s architecture learned self-supervised from the training images."""
    cfg, mcfg = parse_pretrain(pretrain), parse_model(model)
    train_cfg = cfg.train_config(train)
    mean, std = train_split.mean, train_split.std
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(mcfg.seed)
        net = create_model(mcfg.name, train_split.num_classes, train_split.channels, **mcfg.kwargs)
    views = build_augment(cfg.augment_config(augment), mean, std)
    backbone, result = learn_self_supervised(
        net, (train_split.images, train_split.labels), (val_split.images, val_split.labels),
        cfg, train_cfg, views, partial(normalize, mean=mean, std=std),
        fingerprint={"model": net.spec.to_dict(), "pretrain": pretrain, "augment": augment,
                     "data": [len(train_split), len(val_split), train_split.image_size]})
    backbone.meta = _backbone_meta(train_split, cfg.method)
    return backbone, {"best_epoch": result.best_epoch, f"best_{train_cfg.monitor}":
                      result.best_metric, "train_seconds": result.train_seconds,
                      "epochs_run": len(result.history), "history": result.history}


def _backbone_meta(train_split: ImageSet, method: str) -> dict[str, Any]:
    # What load_backbone("checkpoint:…") reads: the statistics the backbone was trained with and
    # its input size, so fine_tune feeds it as it was pretrained.
    height, width = train_split.image_size
    return {"mean": list(train_split.mean), "std": list(train_split.std),
            "image_size": [height, width], "input_size": height if height == width else None,
            "class_names": list(train_split.class_names), "pretrained_with": method}


def pretraining_metrics(pretraining_history: dict[str, Any]) -> tuple[dict, dict]:
    """Per-epoch curves (loss, k-NN accuracy) and the summary, in MLflow's metric format."""
    return history_metrics(pretraining_history, CURVES)
