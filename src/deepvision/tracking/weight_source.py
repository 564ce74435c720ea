"""``mlflow:<uri>`` as a weight source (``fine_tune.backbone: mlflow:runs:/<id>/model``): the
model bundle logged with a run is downloaded and loaded weights-only, never unpickled."""

from __future__ import annotations

from pathlib import Path

import mlflow

from deepvision.models.pretrained import Backbone, load_backbone, register_weight_source

PREFIX = "mlflow"


def register() -> None:
    """Make ``mlflow:`` known to ``load_backbone`` (the torch packages never import MLflow)."""
    register_weight_source(PREFIX, mlflow_backbone)


def mlflow_backbone(uri: str) -> Backbone:
    """The project model bundle (``*.pt``) under an MLflow artifact URI, as a ``Backbone``."""
    path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    bundles = sorted(path.rglob("*.pt")) if path.is_dir() else [path]
    if not bundles:
        raise FileNotFoundError(f"no model bundle (*.pt) under MLflow artifact {uri}; log one "
                                "with a run (trained_model is logged to the folder 'model')")
    return load_backbone(f"checkpoint:{bundles[0]}")
