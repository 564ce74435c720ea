"""The Kedro side of MLflow for what kedro-mlflow does not log by itself: each tuning trial as a
nested run of the pipeline's run, and a dict logged as run parameters.

kedro-mlflow opens one MLflow run per ``kedro run`` (the *active* run). Everything here talks to
MLflow through ``MlflowClient`` with explicit run ids and never starts or ends a run on the
active-run stack, so the datasets kedro-mlflow saves after the search still land in the parent run.
The tuning library only sees ``TuneCallbacks``; it never imports MLflow.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, NoReturn

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from deepvision.tuning import TuneCallbacks

log = logging.getLogger(__name__)

# Optuna trial state → MLflow run status. A pruned trial was stopped on purpose, which MLflow
# calls KILLED; the tag ``trial_state`` keeps Optuna's own word for filtering
# (``tags.trial_state = 'PRUNED'``).
RUN_STATUS = {"COMPLETE": RunStatus.FINISHED, "PRUNED": RunStatus.KILLED,
              "FAIL": RunStatus.FAILED}


class TrialRuns:
    """One nested MLflow run per trial, children of ``parent_run_id``: the trial's sampled params,
    its per-epoch record as metric curves (step = epoch), its final ``value`` and a ``trial_state``
    tag (COMPLETE | PRUNED | FAIL)."""

    def __init__(self, client: MlflowClient, parent_run_id: str, experiment_id: str,
                 study_name: str) -> None:
        self._client = client
        self._parent = parent_run_id
        self._experiment = experiment_id
        self._study = study_name
        self._runs: dict[int, str] = {}  # trial number → its run id, while the trial runs

    def callbacks(self) -> TuneCallbacks:
        return TuneCallbacks(trial_started=self.trial_started, epoch_end=self.epoch_end,
                             trial_finished=self.trial_finished)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        tags = {MLFLOW_PARENT_RUN_ID: self._parent, "study_name": self._study,
                "trial_number": str(number)}
        run = self._client.create_run(self._experiment, run_name=f"trial-{number}", tags=tags)
        self._runs[number] = run.info.run_id
        self._client.log_batch(run.info.run_id,
                               params=[Param(k, str(v)) for k, v in params.items()])

    def epoch_end(self, number: int, record: dict[str, float]) -> None:
        step, now = int(record["epoch"]), int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in record.items() if k != "epoch"]
        self._client.log_batch(self._runs[number], metrics=metrics)

    def trial_finished(self, number: int, state: str, value: float | None,
                       params: dict[str, Any], history: list[dict[str, float]]) -> None:
        run_id = self._runs.pop(number)
        if value is not None and math.isfinite(value):
            self._client.log_metric(run_id, "value", value)
        self._client.set_tag(run_id, "trial_state", state)
        self._client.set_terminated(run_id, RunStatus.to_string(RUN_STATUS[state]))


def mlflow_trial_callbacks(study_name: str) -> TuneCallbacks:
    """Callbacks that log every trial as a nested run of the active MLflow run; callbacks that
    do nothing (with a warning) when there is none, e.g. tracking disabled for the pipeline."""
    run = mlflow.active_run()
    if run is None:
        log.warning("No active MLflow run: the trials of study %r are not tracked in MLflow.",
                    study_name)
        return TuneCallbacks()
    return TrialRuns(MlflowClient(), run.info.run_id, run.info.experiment_id,
                     study_name).callbacks()


class MlflowParamsDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """Write-only: logs a flat dict as parameters ``<prefix>.<key>`` of the active MLflow run.

    kedro-mlflow logs ``params:`` inputs as parameters but has no dataset for parameters a node
    computes (its metric datasets take numbers only, and a hyperparameter is not a metric).
    Like kedro-mlflow's datasets it obeys ``_logging_activated``, which kedro-mlflow switches
    off for pipelines whose tracking is disabled.
    """

    def __init__(self, prefix: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._prefix = prefix
        self._logging_activated = True
        self.metadata = metadata

    def save(self, data: dict[str, Any]) -> None:
        run = mlflow.active_run()
        if not self._logging_activated:
            return
        if run is None:
            log.warning("No active MLflow run: parameters %s are not logged.", sorted(data))
            return
        params = [Param(f"{self._prefix}.{k}" if self._prefix else k, str(v))
                  for k, v in data.items()]
        MlflowClient().log_batch(run.info.run_id, params=params)

    def load(self) -> NoReturn:
        raise DatasetError(f"{type(self).__name__} is write-only; read the parameters in MLflow.")

    def _describe(self) -> dict[str, Any]:
        return {"prefix": self._prefix}
