"""Values a node computes (best hyperparameters, ...) logged as parameters of the active run."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.entities import Param
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)


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
