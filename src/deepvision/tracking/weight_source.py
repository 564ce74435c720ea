"""MLflow URIs as weight sources and model sources: ``fine_tune.backbone`` and ``predict.model``
take ``runs:/<id>/model``, ``models:/<name>@<alias>`` (or ``mlflow:<any artifact URI>``). The
model bundle logged with a run (also inside its inference model) is downloaded and loaded
weights-only, never unpickled."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import mlflow
from torch import nn

from deepvision.models.pretrained import Backbone, load_backbone, register_weight_source
from deepvision.serving import load_model, register_model_source

PREFIX = "mlflow"
SCHEMES = (PREFIX, "runs", "models")


def register() -> None:
    """Make the MLflow schemes known to ``load_backbone`` and ``load_model`` (the torch packages
    never import MLflow)."""
    for scheme in SCHEMES:
        register_weight_source(scheme, partial(mlflow_backbone, scheme=scheme))
        register_model_source(scheme, mlflow_model)


def mlflow_bundle(uri: str) -> Path:
    """The project model bundle (``*.pt``) under an MLflow artifact or model URI, downloaded."""
    path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri.removeprefix(f"{PREFIX}:")))
    bundles = sorted(path.rglob("*.pt")) if path.is_dir() else [path]
    if not bundles:
        raise FileNotFoundError(f"no model bundle (*.pt) under MLflow artifact {uri}; log one "
                                "with a run (trained_model is logged to the folder 'model')")
    return bundles[0]


def mlflow_backbone(reference: str, scheme: str = PREFIX) -> Backbone:
    """The bundle under ``<scheme>:<reference>`` as a ``Backbone`` (a weight source)."""
    uri = reference if scheme == PREFIX else f"{scheme}:{reference}"
    return load_backbone(f"checkpoint:{mlflow_bundle(uri)}")


def mlflow_model(uri: str) -> nn.Module:
    """The bundle under an MLflow URI as a model with its ``meta`` (a model source)."""
    return load_model(str(mlflow_bundle(uri)))
