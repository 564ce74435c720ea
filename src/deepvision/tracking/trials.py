"""Each tuning trial as a nested run of the pipeline's run.

kedro-mlflow opens one MLflow run per ``kedro run`` (the *active* run). Trials talk to MLflow
through ``MlflowClient`` with explicit run ids and never start or end a run on the active-run
stack, so the datasets kedro-mlflow saves after the search still land in the parent run.
The tuning library only sees ``TuneCallbacks``; it never imports MLflow.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import mlflow
from mlflow.entities import Param, Run, RunStatus
from mlflow.tracking import MlflowClient

from deepvision.tracking.child_runs import create_child_run, log_entries, log_metrics
from deepvision.tuning import TuneCallbacks

log = logging.getLogger(__name__)

# Optuna trial state → MLflow run status. A pruned trial was stopped on purpose, which MLflow
# calls KILLED; the tag ``trial_state`` keeps Optuna's own word for filtering
# (``tags.trial_state = 'PRUNED'``).
RUN_STATUS = {"COMPLETE": RunStatus.FINISHED, "PRUNED": RunStatus.KILLED,
              "FAIL": RunStatus.FAILED}


class TrialRuns:
    """One nested MLflow run per trial, children of ``parent``: the trial's sampled params, its
    per-epoch record as metric curves (step = epoch), its final ``value`` and a ``trial_state``
    tag (COMPLETE | PRUNED | FAIL)."""

    def __init__(self, client: MlflowClient, parent: Run, study_name: str) -> None:
        self._client = client
        self._parent = parent
        self._study = study_name
        self._runs: dict[int, str] = {}  # trial number → its run id, while the trial runs

    def callbacks(self) -> TuneCallbacks:
        return TuneCallbacks(trial_started=self.trial_started, epoch_end=self.epoch_end,
                             trial_finished=self.trial_finished)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        run_id = create_child_run(self._client, self._parent, f"trial-{number}",
                                  {"study_name": self._study, "trial_number": number})
        self._runs[number] = run_id
        log_entries(self._client, run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def epoch_end(self, number: int, record: dict[str, float]) -> None:
        log_metrics(self._client, self._runs[number],
                    {k: v for k, v in record.items() if k != "epoch"}, int(record["epoch"]))

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
    return TrialRuns(MlflowClient(), run, study_name).callbacks()
