"""Nodes of the ``build`` pipeline."""

from __future__ import annotations

from typing import Any

from torch import nn

from deepvision.data.imageset import ImageSet
from deepvision.models.summary import model_card
from deepvision.pipelines.metrics import as_metrics
from deepvision.pipelines.params import parse_model


def build_model(train_split: ImageSet, model: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """Create the named model for the data's channels and classes, seeded, with its card."""
    net = parse_model(model).create(train_split.num_classes, train_split.channels)
    net.meta = train_split.model_meta()
    return net, model_card(net, (train_split.channels, *train_split.image_size))


def model_card_metrics(model_card: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Size and cost of the built model as MLflow metrics (``model_parameters``, ...)."""
    keys = ("parameters", "trainable_parameters", "macs_per_image", "size_mb")
    return as_metrics({f"model_{k}": model_card[k] for k in keys})
