"""Saved catalog datasets as artifacts of the active run, and the trained model in MLflow's
PyTorch flavour.

A catalog entry opts in with ``metadata: {mlflow: {artifact_path: X}}`` (and
``log_model: inference`` for a model: the pyfunc of ``tracking.inference_model``; ``pytorch``
logs MLflow's PyTorch flavour instead). kedro-mlflow's ``MlflowArtifactDataset`` does the same by
wrapping the dataset, but with Kedro 1.7 a wrapped *versioned* dataset gets its own save
timestamp, which the catalog refuses (``VersionAlreadyExistsError``). Logging after the save
keeps Kedro's versioning untouched.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import torch
from mlflow.models import infer_signature

from deepvision.io.paths import saved_path


def log_saved_dataset(dataset: Any, data: Any, register_as: str | None = None) -> None:
    """Log the file ``dataset`` has just written, if its metadata asks for it and a run is
    active; a model marked ``log_model`` is also logged as an MLflow model (and registered as
    ``register_as`` when given)."""
    options = (getattr(dataset, "metadata", None) or {}).get("mlflow") or {}
    if "artifact_path" not in options or mlflow.active_run() is None:
        return
    mlflow.log_artifact(str(saved_path(dataset)), artifact_path=options["artifact_path"])
    if options.get("log_model") == "pytorch":
        log_pytorch_model(data, options["artifact_path"])
    elif options.get("log_model") == "inference":
        from deepvision.tracking.inference_model import log_inference_model

        log_inference_model(data, register_as)


def log_pytorch_model(model: Any, folder: str) -> None:
    """Log ``model`` in MLflow's PyTorch flavour, with an input example and a signature, so the
    MLflow UI shows it as a model (``mlflow.pytorch.load_model`` unpickles it: trust needed; the
    project's own bundle beside it loads weights-only)."""
    meta = getattr(model, "meta", {})
    shape = (1, model.spec.in_channels, *meta.get("image_size", (32, 32)))
    example = np.random.default_rng(0).random(shape, dtype=np.float32)
    with torch.no_grad():
        output = model.eval()(torch.from_numpy(example)).numpy()
    mlflow.pytorch.log_model(model, name=f"{folder}_pytorch", input_example=example,
                             signature=infer_signature(example, output),
                             pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])
