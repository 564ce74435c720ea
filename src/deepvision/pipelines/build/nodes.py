"""Nodes of the ``build`` pipeline."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from deepvision.data.imageset import ImageSet
from deepvision.models.registry import create_model
from deepvision.models.summary import model_card
from deepvision.pipelines.params import parse_model
from deepvision.serving.preprocess import preprocessing_meta


def build_model(train_split: ImageSet, model: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """Create the named model for the data's channels and classes, seeded, with its card."""
    cfg = parse_model(model)
    with torch.random.fork_rng(devices=[]):  # seed the init without touching global RNG state
        torch.manual_seed(cfg.seed)
        net = create_model(cfg.name, train_split.num_classes, train_split.channels, **cfg.kwargs)
    net.meta = preprocessing_meta(train_split.class_names, train_split.image_size,
                                  train_split.mean, train_split.std)
    return net, model_card(net, (train_split.channels, *train_split.image_size))


def model_card_metrics(model_card: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Size and cost of the built model as MLflow metrics (``model_parameters``, ...)."""
    keys = ("parameters", "trainable_parameters", "macs_per_image", "size_mb")
    return {f"model_{k}": {"step": 0, "value": float(model_card[k])} for k in keys}
