"""The MLflow inference model: raw image in, label out, servable without the Kedro project.

An ``mlflow.pyfunc.PythonModel`` rather than kedro-mlflow's ``pipeline_ml_factory``: kedro-mlflow
2.0.3 keeps a ``PipelineML`` through ``kedro run --pipelines train`` (its ``__radd__`` fixes
issue #690 for one pipeline), but this project's default ``kedro run`` is the *sum* of its stage
pipelines, and ``PipelineML + Pipeline`` is demoted to a plain ``Pipeline`` (checked with 2.0.3 and
Kedro 1.7: the default run and ``--pipelines ingest,...,train`` log no model). Its
``KedroPipelineModel`` also serves through a Kedro runner and catalog. This pyfunc has the same
contract and calls the very functions the ``predict`` pipeline calls (``serving.Predictor``), so
what is served is what ``predict`` does.

Input: a DataFrame with a column ``image`` of encoded files (PNG, JPEG, …) as bytes — base64 in
JSON (``{"dataframe_split": {"columns": ["image"], "data": [["<base64>"]]}}``) — or uint8 arrays
(one H×W[×C] array, an N×H×W[×C] array, or a list of arrays) through
``unwrap_python_model().predict(None, arrays)`` (the signature describes the image column).
Output: one row per image with ``label``, ``probability``, ``top_labels``, ``top_probabilities``
and ``error`` ("" when labelled, the reason when the file is refused as ingest refuses it).
``params={"top_k": k}`` changes k.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from PIL import Image

import deepvision
from deepvision.models.bundle import save_checkpoint_bundle

NAME = "classifier"  # the model's name in the run: runs:/<run id>/classifier
COLUMNS = ["label", "probability", "top_labels", "top_probabilities", "error"]
TOP_K = 3


class ImageClassifier(mlflow.pyfunc.PythonModel):
    """Decodes, converts and normalises as training did (read from the bundle), then labels."""

    def load_context(self, context: Any) -> None:
        from deepvision.serving import Predictor, load_model

        self.predictor = Predictor(load_model(context.artifacts["bundle"]), top_k=10**6)

    # No type hints: MLflow would read them as the signature; the logged one is explicit.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        if isinstance(model_input, pd.DataFrame) and "image" in model_input:
            rows = self.predictor.label_encoded([_bytes(v) for v in model_input["image"]])
        else:
            rows = self.predictor.label_arrays(_arrays(model_input))
        k = int((params or {}).get("top_k", TOP_K))
        for row in rows:
            for key in ("top_labels", "top_probabilities"):
                if key in row:
                    row[key] = row[key][:k]
        table = pd.DataFrame(rows, columns=COLUMNS)
        table["error"] = table["error"].fillna("")  # JSON has no NaN: "" means labelled
        return table


def _bytes(value: Any) -> bytes:
    return base64.b64decode(value) if isinstance(value, str) else bytes(value)


def _arrays(value: Any) -> list[np.ndarray]:
    if isinstance(value, pd.DataFrame):
        raise ValueError(f"expected a column 'image' of encoded image bytes, got columns "
                         f"{list(value.columns)}")
    if isinstance(value, np.ndarray) and value.ndim in (2, 3) and (
            value.ndim == 2 or value.shape[-1] in (1, 3)):
        return [value.astype(np.uint8, copy=False)]  # one image
    return [np.asarray(a, dtype=np.uint8) for a in value]


def log_inference_model(model: torch.nn.Module, register_as: str | None = None) -> str:
    """Log ``model`` (with its bundle ``meta``) as the run's inference model; register it as
    ``register_as`` when given. Returns the model URI."""
    import tempfile

    from mlflow.models import infer_signature

    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "model.pt"
        save_checkpoint_bundle(model, bundle, model.meta)
        example = pd.DataFrame({"image": [_example_png(model)]})
        classifier = ImageClassifier()
        classifier.load_context(_Context({"bundle": str(bundle)}))
        output = classifier.predict(None, example)
        info = mlflow.pyfunc.log_model(
            name=NAME, python_model=classifier, artifacts={"bundle": str(bundle)},
            code_paths=[str(Path(deepvision.__file__).parent)],
            pip_requirements=requirements(), input_example=example,
            signature=infer_signature(example, output, params={"top_k": TOP_K}),
            registered_model_name=register_as or None)
    return info.model_uri


def requirements() -> list[str]:
    """What the model needs besides its own code (the ``deepvision`` package in code_paths)."""
    import PIL
    import torchvision

    return [f"torch=={torch.__version__.split('+')[0]}",
            f"torchvision=={torchvision.__version__.split('+')[0]}",
            f"pillow=={PIL.__version__}", f"numpy=={np.__version__}",
            f"pandas=={pd.__version__}", f"mlflow=={mlflow.__version__}"]


def _example_png(model: torch.nn.Module) -> bytes:
    height, width = model.meta["image_size"]
    channels = model.spec.in_channels
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, channels), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue()


class _Context:
    def __init__(self, artifacts: dict[str, str]) -> None:
        self.artifacts = artifacts
