"""Kedro hooks, one job each: parameter validation, artifact logging, the ``mlflow:`` weight
source, run naming and summary, the torchrun rank guard, and naming a lost team server. What they
do with MLflow lives in ``deepvision.tracking``; the hooks only decide when.

MLflow is imported inside the hook methods: settings.py imports this module early, for every
``kedro`` command, and MLflow takes seconds to import.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from deepvision.io.memory import MemoryOnSave
from deepvision.io.paths import filepath, pretrained_backbone, saved_path

log = logging.getLogger(__name__)


def _validators() -> dict[str, Callable[[Any], Any]]:
    # Imported lazily: the hook is registered in settings.py, which Kedro imports early.
    from deepvision.pipelines import params

    return params.PARSERS


class ValidateParamsHook:
    """Every ``params:`` block a pipeline uses is validated before any node runs, so a typo or an
    out-of-range value fails in a second, naming the key, not an hour into training. An unknown
    top-level block fails too; a block given with ``--params`` that the selected pipelines do not
    read gets a warning naming the pipelines that do. A rejected start ends the MLflow run FAILED
    with the error as a tag (``tracking.lifecycle``), never as an empty FINISHED run."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        try:
            self._validate(run_params, pipeline, catalog)
        except Exception as error:
            from deepvision.tracking.lifecycle import fail_active_run

            fail_active_run(error)
            raise

    @staticmethod
    def _validate(run_params: dict[str, Any], pipeline: Pipeline, catalog: Any) -> None:
        from deepvision.config import ConfigError

        parsers = _validators()
        given = catalog.load("parameters") if "parameters" in catalog else {}
        unknown = sorted(set(given) - set(parsers))
        if unknown:
            raise ConfigError(f"unknown parameter block(s) {', '.join(unknown)}; the known "
                              f"blocks are {', '.join(sorted(parsers))}")
        for name in sorted(pipeline.inputs()):
            key = name.removeprefix("params:")
            if name.startswith("params:") and key in parsers:
                parsers[key](catalog.load(name))
        _warn_unread_blocks(run_params, pipeline)


def _warn_unread_blocks(run_params: dict[str, Any], pipeline: Pipeline) -> None:
    """A ``--params`` block no selected pipeline reads: say which pipelines do read it."""
    blocks = {k.split(".")[0] for k in (run_params.get("runtime_params") or {})}
    unread = sorted(blocks - {n.removeprefix("params:").split(".")[0] for n in pipeline.inputs()})
    if not unread:
        return
    pipelines = all_pipelines()
    for block in unread:
        readers = sorted(n for n, p in pipelines.items() if n != "__default__"
                         and any(i.split(".")[0] == f"params:{block}" for i in p.inputs()))
        log.warning("--params %s.* is not read by the selected pipeline(s) %s and has no "
                    "effect; it is read by: %s", block, ", ".join(
                        run_params.get("pipeline_names") or ["__default__"]),
                    ", ".join(readers) or "no pipeline")


def all_pipelines() -> dict[str, Pipeline]:
    """Every stage pipeline by name. Kedro 1.7 loads only the pipelines a run selects (even
    through ``find_pipelines``), so the stage packages are imported here (rare paths only)."""
    import importlib
    import pkgutil

    import deepvision.pipelines as stages

    return {m.name: importlib.import_module(f"{stages.__name__}.{m.name}").create_pipeline()
            for m in pkgutil.iter_modules(stages.__path__) if m.ispkg}


class MissingInputsHook:
    """A stage run before its inputs exist fails up front, naming the pipeline that makes them."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        missing = [n for n in sorted(pipeline.inputs()) if not n.startswith("params:")
                   and n != "parameters" and n in catalog and not catalog.exists(n)]
        if not missing:
            return
        pipelines = all_pipelines()
        producers = {n: sorted(name for name, p in pipelines.items() if name != "__default__"
                               and n in p.outputs()) for n in missing}
        error = FileNotFoundError("; ".join(
            f"{n} has no saved version yet: run `kedro run --pipelines "
            f"{','.join(producers[n]) or '<none produces it>'}` first" for n in missing)
            + " (or plain `kedro run` for the whole chain)")
        from deepvision.tracking.lifecycle import fail_active_run

        fail_active_run(error)
        raise error


class RunLifecycleHook:
    """No run is left RUNNING (``tracking.lifecycle``): the run is tagged with its process,
    SIGINT/SIGTERM end it KILLED, runs orphaned by a dead process on this host are marked FAILED,
    and a resumed training is linked to the run it continues."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        if rank() > 0:
            return
        from deepvision.tracking import lifecycle

        lifecycle.end_runs_on_signals()
        lifecycle.mark_active_run()
        lifecycle.close_orphaned_runs()
        if "params:train" in pipeline.inputs():
            lifecycle.tag_checkpoint(catalog.load("params:train"))


class MlflowArtifactsHook:
    """Logs every saved dataset whose catalog entry has ``metadata: {mlflow: {artifact_path: X}}``
    as an artifact of the active MLflow run (``tracking.artifacts``)."""

    def __init__(self) -> None:
        self._catalog: Any = None

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        from deepvision.tracking.artifacts import log_saved_dataset

        if self._catalog is not None:
            train = (self._catalog.load("params:train") if "params:train" in self._catalog
                     else None) or {}
            log_saved_dataset(self._catalog.get(dataset_name), data, train.get("register_as"))


class LineageHook:
    """Records what the run really used and made (``tracking.lineage``): every versioned input
    as an MLflow dataset input with its version and producing run, every versioned output as a
    tag, and the run's model and data source read from the files, not from the parameters."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._saved: set[str] = set()  # made by this run: reloading them is not an input

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        self._saved = set()
        if "params:ingest" in pipeline.inputs():  # this run reads the source itself
            from deepvision.tracking.run_tags import describe_active_run

            ingest = catalog.load("params:ingest")
            describe_active_run({"source": str(ingest.get("name") or ingest.get("source"))})

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        if (self._catalog is None or dataset_name.startswith("params:")
                or dataset_name in self._saved):
            return
        from deepvision.tracking import lineage
        from deepvision.tracking.run_tags import describe_active_run

        producer = lineage.record_input(dataset_name, self._catalog.get(dataset_name))
        described = lineage.model_tags(data)
        if producer.get("source"):
            described.setdefault("source", producer["source"])
        if described:
            describe_active_run(described)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if self._catalog is None:
            return
        from deepvision.tracking import lineage
        from deepvision.tracking.run_tags import describe_active_run

        self._saved.add(dataset_name)
        lineage.record_output(dataset_name, self._catalog.get(dataset_name))
        if dataset_name == "initial_model":  # built by this run: its spec is what was built
            describe_active_run(lineage.model_tags(data))


class MlflowWeightSourceHook:
    """Makes ``runs:/``, ``models:/`` and ``mlflow:`` URIs weight and model sources
    (``tracking.weight_source``)."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        from deepvision.tracking import weight_source

        weight_source.register()


class CatalogModelHook:
    """``predict.model: ""`` is the newest ``trained_model`` of the catalog, and a Kedro version
    string (``2026-12-02T01.02.03.456Z``) that version of it."""

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        from functools import partial

        from deepvision.serving import register_model_source
        from deepvision.serving.reference import CATALOG

        register_model_source(CATALOG, partial(catalog_model, catalog))


def catalog_model(catalog: Any, version: str) -> Any:
    """``trained_model`` at ``version`` ("" the newest) as its catalog entry loads it."""
    from kedro.io import DatasetError, Version

    from deepvision.io import ModelDataset

    dataset = catalog.get("trained_model")
    if version:
        dataset = ModelDataset(filepath=str(filepath(dataset)), version=Version(version, None))
    try:
        return dataset.load()
    except DatasetError as e:
        raise FileNotFoundError(f"no trained_model {version or 'yet'} in the catalog ({e}); train "
                                "one with `kedro run` or set predict.model to a file or URI"
                                ) from None


class PretrainedWeightSourceHook:
    """Makes ``pretrained:<version>`` a weight source (``fine_tune.backbone: pretrained:latest``):
    a saved version of the ``pretrain`` pipeline's ``pretrained_backbone``, loaded weights-only."""

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        from functools import partial

        from deepvision.models.pretrained import register_weight_source

        if "pretrained_backbone" in catalog:
            register_weight_source("pretrained", partial(
                pretrained_backbone, filepath(catalog.get("pretrained_backbone"))))


SUMMARISED = ("test_metrics", "trained_model", "fine_tune_comparison")


class RunSummaryHook:
    """Names and tags the MLflow run (its pipeline; ``LineageHook`` adds the model and data read
    from the files), says where to open it, and ends a run with a short summary: test accuracy,
    where the report and the model were written."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._pipeline = "__default__"
        self._tagged = False
        self._written: dict[str, Any] = {}

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        self._catalog, self._tagged, self._written = catalog, False, {}
        self._pipeline = "+".join(sorted(run_params.get("pipeline_names") or ["__default__"]))

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        # The first node, not before_pipeline_run: kedro-mlflow starts its run in its own
        # before_pipeline_run, and hook order between plugins is not guaranteed.
        if not self._tagged:
            from deepvision.tracking.run_tags import tag_active_run

            self._tagged = tag_active_run(self._pipeline)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if rank() == 0 and dataset_name in SUMMARISED:
            self._written[dataset_name] = (data, saved_path(self._catalog.get(dataset_name)))

    @hook_impl
    def after_pipeline_run(self) -> None:
        if rank() > 0:
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


class TorchrunRankHook:
    """Under ``torchrun`` every rank runs the same ``kedro run``; only rank 0 may leave traces.
    On the other ranks each dataset keeps what it is given in memory (its file is never written)
    and kedro-mlflow tracks nothing, so one run writes one set of versions and one MLflow run."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        if rank() > 0 and hasattr(context, "mlflow"):
            context.mlflow.tracking.disable_tracking.pipelines = AllPipelines()

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        if rank() == 0:
            return
        for name in list(catalog.keys()):
            if not name.startswith("params:") and name != "parameters":
                catalog[name] = MemoryOnSave(catalog.get(name))


def rank() -> int:
    """This process's torchrun rank (0 when not under torchrun)."""
    return int(os.environ.get("RANK", "0"))


class AllPipelines(list):
    """A pipeline list that contains every name (kedro-mlflow's ``disable_tracking.pipelines``)."""

    def __contains__(self, item: object) -> bool:
        return True


class LostServerHook:
    """A run that dies because the tracking server or the database stopped answering (team mode)
    ends with one line naming which one and the way back, below Kedro's traceback."""

    def __init__(self) -> None:
        self._said = False

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._said = False

    @hook_impl
    def on_node_error(self, error: Exception) -> None:
        self._explain(error)

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        self._explain(error)

    def _explain(self, error: BaseException) -> None:
        from deepvision.tracking.connection import lost_server

        message = lost_server(error)
        if message and not self._said:
            self._said = True
            log.error(message)
