"""MLflow runs nested under the active run, so MLflow's compare view lines them up (one per
architecture of a study, one per trial of a search): the one place that creates, fills and ends
them, and a Kedro dataset that saves several at once.

Dataset data: ``{run_name: {"params": {...}, "metrics": {...}, "curves": {metric: [value per
epoch]}, "tags": {...}}}``; curve values are logged with step = epoch (1, 2, ...). Each entry
becomes a finished run in the active run's experiment, tagged ``mlflow.parentRunId`` (the UI nests
it) and ``study`` (the parent's id, for searches). With no active run, the runs are top-level runs
of the current experiment. Loading returns the children of the active run in the same form.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.entities import Metric, Param, Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from mlflow.utils.validation import MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH

ChildRuns = dict[str, dict[str, Any]]
STUDY_TAG = "study"
_T = TypeVar("_T")


def create_child_run(client: MlflowClient, parent: Run, name: str,
                     tags: Mapping[str, Any] | None = None) -> str:
    """A new RUNNING run named ``name`` in ``parent``'s experiment, nested under it; its id."""
    tags = {MLFLOW_RUN_NAME: name, **strings(tags or {}), MLFLOW_PARENT_RUN_ID: parent.info.run_id}
    return client.create_run(parent.info.experiment_id, tags=tags, run_name=name).info.run_id


@contextmanager
def child_run(client: MlflowClient, parent: Run | None, name: str,
              tags: Mapping[str, Any] | None = None) -> Iterator[str]:
    """The id of a run that ends FINISHED, or FAILED if the block raises (never left RUNNING in
    the UI). With no ``parent``, a top-level run of the current experiment: ``mlflow.start_run``
    resolves it (``set_experiment``, ``MLFLOW_EXPERIMENT_NAME``/``_ID``, else the default)."""
    if parent is None:
        with mlflow.start_run(run_name=name, tags=strings(tags or {})) as run:
            yield run.info.run_id
        return
    run_id = create_child_run(client, parent, name, tags)
    try:
        yield run_id
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id)


def log_metrics(client: MlflowClient, run_id: str, values: Mapping[str, Any], step: int) -> None:
    """``values`` (None skipped) as metrics at ``step``, in as few batches as allowed."""
    now = int(time.time() * 1000)
    log_entries(client, run_id, [Metric(k, float(v), now, step) for k, v in values.items()
                                 if v is not None])


def log_entries(client: MlflowClient, run_id: str, metrics: Sequence[Metric] = (),
                params: Sequence[Param] = ()) -> None:
    for chunk in _chunks(metrics, MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=chunk)
    for chunk in _chunks(params, MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=chunk)


class MlflowChildRunsDataset(AbstractDataset[ChildRuns, ChildRuns]):
    """One MLflow run per entry, as children of the active run (see the module docstring)."""

    def __init__(self, tracking_uri: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        """``tracking_uri``: None uses the one MLflow is configured with (kedro-mlflow sets it)."""
        self._tracking_uri = tracking_uri
        self.metadata = metadata

    def save(self, data: ChildRuns) -> None:
        client = MlflowClient(self._tracking_uri)
        parent = mlflow.active_run()
        study = {STUDY_TAG: parent.info.run_id} if parent is not None else {}
        for name, entry in data.items():
            with child_run(client, parent, name, {**entry.get("tags", {}), **study}) as run_id:
                _log(client, run_id, entry)

    def load(self) -> ChildRuns:
        parent = mlflow.active_run()
        if parent is None:
            raise DatasetError("MlflowChildRunsDataset loads the children of the active MLflow "
                               "run, and no run is active")
        client = MlflowClient(self._tracking_uri)
        children = client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent.info.run_id}'")
        return {run.info.run_name: _read(client, run) for run in children}

    def _describe(self) -> dict[str, Any]:
        return {"tracking_uri": self._tracking_uri}


def _log(client: MlflowClient, run_id: str, entry: dict[str, Any]) -> None:
    """Params, final metrics (step 0) and curves (step = epoch)."""
    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, 0) for k, v in entry.get("metrics", {}).items()
               if v is not None]
    metrics += [Metric(k, float(v), now, epoch) for k, values in entry.get("curves", {}).items()
                for epoch, v in enumerate(values, start=1) if v is not None]
    params = [Param(k, v) for k, v in strings(entry.get("params", {})).items()]
    log_entries(client, run_id, metrics, params)


def _read(client: MlflowClient, run: Any) -> dict[str, Any]:
    history = {k: client.get_metric_history(run.info.run_id, k) for k in run.data.metrics}
    curves = {k: [m.value for m in sorted(h, key=lambda m: m.step)]
              for k, h in history.items() if any(m.step > 0 for m in h)}
    metrics = {k: v for k, v in run.data.metrics.items() if k not in curves}
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    return {"params": dict(run.data.params), "metrics": metrics, "curves": curves, "tags": tags}


def strings(values: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
