"""Lineage: what a run really used and what it produced, read from the artifacts themselves.

- Every versioned dataset a run *loads* becomes an MLflow dataset input (``mlflow.log_input``:
  name, file, Kedro version as digest) plus the tags ``input.<name>`` (the version) and
  ``input.<name>.run`` (the run that saved that version, when it was tracked).
- Every versioned dataset a run *saves* is tagged ``output.<name>`` = its version, which is how a
  later run finds its producer: ``tags.`output.train_split` = '<version>'``.
- The model a run describes is the one in the loaded (or built) model file, its registry name and
  arguments from the file's spec; the data source is the producer's ``source`` tag, carried down
  from the ``ingest`` run that read it. Parameters say what was asked; these tags say what ran.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import mlflow
from mlflow.data.meta_dataset import MetaDataset
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

INPUT_TAG = "input.{}"
INPUT_RUN_TAG = "input.{}.run"
OUTPUT_TAG = "output.{}"
# what PostgreSQL, MySQL and SQLite say when a unique key is violated
_DUPLICATE = re.compile(r"UniqueViolation|Duplicate entry|UNIQUE constraint failed|duplicate key",
                        re.IGNORECASE)


def dataset_version(dataset: Any, saved: bool = False) -> str | None:
    """The Kedro version (timestamp) a dataset last loaded or saved; None if unversioned."""
    version = getattr(dataset, "_version", None)
    if version is None:
        return None
    try:
        return dataset.resolve_save_version() if saved else dataset.resolve_load_version()
    except Exception:  # an unversioned wrapper or a version that vanished: no lineage to record
        return None


def record_output(name: str, dataset: Any) -> None:
    """Tag the active run with the version of ``name`` it has just saved."""
    version = dataset_version(dataset, saved=True)
    if version is not None and mlflow.active_run() is not None:
        mlflow.set_tag(OUTPUT_TAG.format(name), version)


def record_input(name: str, dataset: Any) -> dict[str, str]:
    """Log ``name`` as a dataset input of the active run; returns the producer run's tags ({}
    when it is unknown or no run is active)."""
    version = dataset_version(dataset)
    run = mlflow.active_run()
    if version is None or run is None:
        return {}
    path = Path(str(dataset._get_load_path())).resolve()
    producer = producer_run(name, version, exclude=run.info.run_id)
    tags = {INPUT_TAG.format(name): version}
    if producer is not None:
        tags[INPUT_RUN_TAG.format(name)] = producer.info.run_id
    _log_input(MetaDataset(_source(path), name=name, digest=version[:36]),
               tags={"version": version, **({"run": producer.info.run_id} if producer else {})})
    mlflow.set_tags(tags)
    return dict(producer.data.tags) if producer is not None else {}


def _log_input(dataset: Any, tags: dict[str, str]) -> None:
    """``mlflow.log_input``, once more when another run registered the same dataset between the
    store's existence check and its insert: MLflow's SQL store checks then inserts without a lock,
    so two tune workers starting together on one server race on (experiment, name, digest). The
    failed transaction is rolled back, and the second attempt finds the row and links it."""
    try:
        mlflow.log_input(dataset, context="input", tags=tags)
    except MlflowException as error:
        if not _DUPLICATE.search(str(error)):
            raise
        log.info("dataset %s was registered concurrently by another run; linking it", dataset.name)
        mlflow.log_input(dataset, context="input", tags=tags)


def producer_run(name: str, version: str, exclude: str | None = None) -> Any:
    """The tracked run that saved version ``version`` of ``name``, or None."""
    client = MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, f"tags.`{OUTPUT_TAG.format(name)}` = '{version}'",
                              max_results=2) if experiments else []
    runs = [r for r in runs if r.info.run_id != exclude]
    return runs[0] if runs else None


def model_tags(model: Any) -> dict[str, str]:
    """``model`` and ``model.args`` from the spec stored in a model file; {} if it has none."""
    spec = getattr(model, "spec", None)
    if spec is None:
        return {}
    return {"model": spec.name, "model.args": json.dumps(
        {"num_classes": spec.num_classes, "in_channels": spec.in_channels, **spec.kwargs},
        sort_keys=True, default=str)}


def _source(path: Path) -> Any:
    """MLflow's local-file dataset source (a class MLflow only creates through its registry,
    which warns that it is registered twice)."""
    import warnings

    from mlflow.data.dataset_source_registry import resolve_dataset_source

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return resolve_dataset_source(str(path))
