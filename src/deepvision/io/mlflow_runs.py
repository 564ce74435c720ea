"""A Kedro dataset that saves several MLflow runs at once, nested under the active run, so MLflow's
compare view lines them up (one per architecture of a study, one per trial of a search).

Saved data: ``{run_name: {"params": {...}, "metrics": {...}, "curves": {metric: [value per
epoch]}, "tags": {...}}}``; curve values are logged with step = epoch (1, 2, ...). Each entry
becomes a finished run in the active run's experiment, tagged ``mlflow.parentRunId`` (the UI nests
it) and ``study`` (the parent's id, for searches). With no active run, the runs are top-level runs
of the current experiment. Loading returns the children of the active run in the same form.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from mlflow.utils.validation import MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH

ChildRuns = dict[str, dict[str, Any]]
STUDY_TAG = "study"
_T = TypeVar("_T")


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
        # The private getter is how MLflow itself finds "the current experiment" (set_experiment
        # or MLFLOW_EXPERIMENT_NAME/ID, else the default one); it has no public equivalent.
        experiment_id = (parent.info.experiment_id if parent is not None
                         else mlflow.tracking.fluent._get_experiment_id())
        for name, entry in data.items():
            tags = {MLFLOW_RUN_NAME: name, **_strings(entry.get("tags", {}))}
            if parent is not None:
                tags.update({MLFLOW_PARENT_RUN_ID: parent.info.run_id,
                             STUDY_TAG: parent.info.run_id})
            run_id = client.create_run(experiment_id, tags=tags, run_name=name).info.run_id
            try:
                _log(client, run_id, entry)
            except Exception:
                client.set_terminated(run_id, "FAILED")  # never left RUNNING in the UI
                raise
            client.set_terminated(run_id)

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
    """Params, final metrics (step 0) and curves (step = epoch) in as few batches as allowed."""
    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, 0) for k, v in entry.get("metrics", {}).items()
               if v is not None]
    metrics += [Metric(k, float(v), now, epoch) for k, values in entry.get("curves", {}).items()
                for epoch, v in enumerate(values, start=1) if v is not None]
    params = [Param(k, v) for k, v in _strings(entry.get("params", {})).items()]
    for chunk in _chunks(metrics, MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=chunk)
    for chunk in _chunks(params, MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=chunk)


def _read(client: MlflowClient, run: Any) -> dict[str, Any]:
    history = {k: client.get_metric_history(run.info.run_id, k) for k in run.data.metrics}
    curves = {k: [m.value for m in sorted(h, key=lambda m: m.step)]
              for k, h in history.items() if any(m.step > 0 for m in h)}
    metrics = {k: v for k, v in run.data.metrics.items() if k not in curves}
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    return {"params": dict(run.data.params), "metrics": metrics, "curves": curves, "tags": tags}


def _strings(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
