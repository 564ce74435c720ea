"""Kedro hooks: every ``params:`` block a pipeline uses is validated before any node runs, so a
typo or an out-of-range value fails in a second, naming the key, not an hour into training."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractDataset
from kedro.pipeline import Pipeline

log = logging.getLogger(__name__)


def _validators() -> dict[str, Callable[[Any], Any]]:
    # Imported lazily: the hook is registered in settings.py, which Kedro imports early.
    from deepvision.pipelines import params

    return params.PARSERS


class ValidateParamsHook:
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        parsers = _validators()
        for name in sorted(pipeline.inputs()):
            key = name.removeprefix("params:")
            if name.startswith("params:") and key in parsers:
                parsers[key](catalog.load(name))


class MlflowArtifactsHook:
    """Logs every saved dataset whose catalog entry has ``metadata: {mlflow: {artifact_path: X}}``
    as an artifact of the active MLflow run, in folder X.

    kedro-mlflow's ``MlflowArtifactDataset`` does the same by wrapping the dataset, but with Kedro
    1.7 a wrapped *versioned* dataset gets its own save timestamp, which the catalog refuses
    (``VersionAlreadyExistsError``). Logging after the save keeps Kedro's versioning untouched.
    """

    def __init__(self) -> None:
        self._catalog: Any = None

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        import mlflow

        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        options = (getattr(dataset, "metadata", None) or {}).get("mlflow") or {}
        if "artifact_path" not in options or mlflow.active_run() is None:
            return
        mlflow.log_artifact(str(saved_path(dataset)), artifact_path=options["artifact_path"])
        if options.get("log_model") == "pytorch":
            log_pytorch_model(data, options["artifact_path"])


def saved_path(dataset: Any) -> Path:
    """The file a (possibly versioned) dataset has just written."""
    if getattr(dataset, "_version", None) is not None:
        return Path(str(dataset._get_versioned_path(dataset.resolve_save_version())))
    return Path(str(dataset._filepath))


class MlflowWeightSourceHook:
    """Makes MLflow URIs weight sources and model sources: ``fine_tune.backbone`` and
    ``predict.model`` take ``runs:/<id>/model``, ``models:/<name>@<alias>`` (or ``mlflow:<uri>``);
    the model bundle logged with a run is downloaded and loaded weights-only, never unpickled."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        from deepvision.models.pretrained import register_weight_source
        from deepvision.serving import register_model_source

        for scheme in ("mlflow", "runs", "models"):
            register_weight_source(scheme, partial(mlflow_backbone, scheme=scheme))
            register_model_source(scheme, mlflow_model)


def mlflow_bundle(uri: str) -> Path:
    """The project model bundle (``*.pt``) under an MLflow artifact or model URI, downloaded."""
    import mlflow

    path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri.removeprefix("mlflow:")))
    bundles = sorted(path.rglob("*.pt")) if path.is_dir() else [path]
    if not bundles:
        raise FileNotFoundError(f"no model bundle (*.pt) under MLflow artifact {uri}; log one "
                                "with a run (trained_model is logged to the folder 'model')")
    return bundles[0]


def mlflow_backbone(reference: str, scheme: str = "mlflow") -> Any:
    """The bundle under ``<scheme>:<reference>`` as a ``Backbone`` (a weight source)."""
    from deepvision.models.pretrained import load_backbone

    uri = reference if scheme == "mlflow" else f"{scheme}:{reference}"
    return load_backbone(f"checkpoint:{mlflow_bundle(uri)}")


def mlflow_model(uri: str) -> Any:
    """The bundle under an MLflow URI as a model with its ``meta`` (a model source)."""
    from deepvision.serving import load_model

    return load_model(str(mlflow_bundle(uri)))


class CatalogModelHook:
    """``predict.model: ""`` is the newest ``trained_model`` of the catalog, and a Kedro version
    string (``2026-12-02T01.02.03.456Z``) that version of it."""

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        from deepvision.serving import register_model_source
        from deepvision.serving.reference import CATALOG

        register_model_source(CATALOG, partial(catalog_model, catalog))


def catalog_model(catalog: Any, version: str) -> Any:
    """``trained_model`` at ``version`` ("" the newest) as its catalog entry loads it."""
    from kedro.io import DatasetError, Version

    from deepvision.io import ModelDataset

    dataset = catalog.get("trained_model")
    if version:
        dataset = ModelDataset(filepath=str(dataset._filepath), version=Version(version, None))
    try:
        return dataset.load()
    except DatasetError as e:
        raise FileNotFoundError(f"no trained_model {version or 'yet'} in the catalog ({e}); train "
                                "one with `kedro run` or set predict.model to a file or URI"
                                ) from None


def log_pytorch_model(model: Any, folder: str) -> None:
    """Log ``model`` in MLflow's PyTorch flavour, with an input example and a signature, so the
    MLflow UI shows it as a model (``mlflow.pytorch.load_model`` unpickles it: trust needed; the
    project's own bundle beside it loads weights-only)."""
    import mlflow
    import numpy as np
    import torch
    from mlflow.models import infer_signature

    meta = getattr(model, "meta", {})
    shape = (1, model.spec.in_channels, *meta.get("image_size", (32, 32)))
    example = np.random.default_rng(0).random(shape, dtype=np.float32)
    with torch.no_grad():
        output = model.eval()(torch.from_numpy(example)).numpy()
    mlflow.pytorch.log_model(model, name=f"{folder}_pytorch", input_example=example,
                             signature=infer_signature(example, output),
                             pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])


SUMMARISED = ("test_metrics", "trained_model", "fine_tune_comparison")


class RunSummaryHook:
    """Names and tags the MLflow run (pipeline · model · data), says where to open it, and ends a
    run with a short summary: test accuracy, where the report and the model were written."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._params: dict[str, Any] = {}
        self._pipeline = "__default__"
        self._tagged = False
        self._written: dict[str, Any] = {}

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        self._catalog, self._tagged, self._written = catalog, False, {}
        self._pipeline = "+".join(sorted(run_params.get("pipeline_names") or ["__default__"]))
        self._params = {k: catalog.load(f"params:{k}") for k in ("ingest", "model")
                        if f"params:{k}" in catalog}

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        import mlflow

        run = mlflow.active_run()
        if self._tagged or run is None:
            return
        self._tagged = True
        tags = run_tags(self._pipeline, self._params)
        mlflow.set_tags({**tags, "mlflow.runName": " · ".join(
            v for v in (tags["pipeline"], tags.get("model"), tags.get("source")) if v)})
        log.info("MLflow run %s: open it with `make mlflow`, then http://127.0.0.1:5000/#/"
                 "experiments/%s/runs/%s?workflowType=machine_learning", run.info.run_id,
                 run.info.experiment_id, run.info.run_id)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if _rank() == 0 and dataset_name in SUMMARISED:
            self._written[dataset_name] = (data, saved_path(self._catalog.get(dataset_name)))

    @hook_impl
    def after_pipeline_run(self) -> None:
        if _rank() > 0:
            return
        if "test_metrics" in self._written:
            metrics, path = self._written["test_metrics"]
            log.info("Test accuracy %.4f, loss %.4f — report: %s", metrics["test_accuracy"],
                     metrics["test_loss"], path)
        if "trained_model" in self._written:
            log.info("Model: %s", self._written["trained_model"][1])
        if "fine_tune_comparison" in self._written:
            table, path = self._written["fine_tune_comparison"]
            log.info("Transfer comparison (%s): %s", path, ", ".join(
                f"{r.variant} {r.test_accuracy:.4f}" for r in table.itertuples()))


def run_tags(pipeline: str, params: dict[str, Any]) -> dict[str, str]:
    """Tags that make runs searchable: pipeline, data source, model and git commit."""
    ingest, model = params.get("ingest") or {}, params.get("model") or {}
    source = ingest.get("name") or ingest.get("source") or ""
    tags = {"pipeline": pipeline, "source": str(source), "model": str(model.get("name", ""))}
    commit = git_commit()
    return tags | ({"git_commit": commit} if commit else {})


def git_commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class TorchrunRankHook:
    """Under ``torchrun`` every rank runs the same ``kedro run``; only rank 0 may leave traces.
    On the other ranks each dataset keeps what it is given in memory (its file is never written)
    and kedro-mlflow tracks nothing, so one run writes one set of versions and one MLflow run."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        if _rank() > 0 and hasattr(context, "mlflow"):
            context.mlflow.tracking.disable_tracking.pipelines = _Everything()

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        if _rank() == 0:
            return
        for name in list(catalog.keys()):
            if not name.startswith("params:") and name != "parameters":
                catalog[name] = MemoryOnSave(catalog.get(name))


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))


class _Everything(list):
    """A pipeline list that contains every name (kedro-mlflow's ``disable_tracking.pipelines``)."""

    def __contains__(self, item: object) -> bool:
        return True


class MemoryOnSave(AbstractDataset):
    """Loads from the wrapped dataset until something is saved; then serves that, in memory."""

    def __init__(self, inner: Any) -> None:
        self._inner, self._data, self._saved = inner, None, False

    def load(self) -> Any:
        return self._data if self._saved else self._inner.load()

    def save(self, data: Any) -> None:
        self._data, self._saved = data, True

    def _describe(self) -> dict[str, Any]:
        return {"wraps": type(self._inner).__name__}
