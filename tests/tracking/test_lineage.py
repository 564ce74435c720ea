"""Lineage: a dataset input registered concurrently by another run is linked, not fatal."""

import mlflow
import pytest
from mlflow.data.meta_dataset import MetaDataset
from mlflow.exceptions import MlflowException

from deepvision.tracking import lineage


@pytest.fixture
def flaky_log_input(monkeypatch):
    """``mlflow.log_input`` that fails once with ``error``, then does the real thing."""
    calls = []
    real = mlflow.log_input

    def install(error):
        def log_input(*args, **kwargs):
            calls.append(args)
            if len(calls) == 1:
                raise error
            return real(*args, **kwargs)
        monkeypatch.setattr(lineage.mlflow, "log_input", log_input)
        return calls
    return install


@pytest.fixture
def experiment(tmp_path):
    """A throw-away SQLite store (the SQL store is the one that races)."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield mlflow.create_experiment("lineage", (tmp_path / "artifacts").as_uri())
    mlflow.set_tracking_uri(previous)


def _dataset(tmp_path):
    path = tmp_path / "train_split.pt"
    path.write_bytes(b"x")
    return MetaDataset(lineage._source(path), name="train_split", digest="2026-12-02T15.07.18.746Z")


def test_a_dataset_registered_by_a_concurrent_run_is_linked(tmp_path, experiment,
                                                            flaky_log_input):
    calls = flaky_log_input(MlflowException(
        "(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint"
        ' "dataset_pk"'))
    with mlflow.start_run(experiment_id=experiment) as run:
        lineage._log_input(_dataset(tmp_path), tags={"version": "v"})
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(calls) == 2 and [i.dataset.name for i in inputs] == ["train_split"]


def test_other_tracking_errors_are_not_retried(tmp_path, flaky_log_input):
    calls = flaky_log_input(MlflowException("RESOURCE_DOES_NOT_EXIST: run not found"))
    with pytest.raises(MlflowException, match="run not found"):
        lineage._log_input(_dataset(tmp_path), tags={})
    assert len(calls) == 1
