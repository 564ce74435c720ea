"""Saved datasets logged as artifacts when their metadata asks, only with an active run."""

import mlflow
import pytest
from kedro_datasets.text import TextDataset

from deepvision.tracking.artifacts import log_saved_dataset


@pytest.fixture
def tracking(tmp_path):
    """A throw-away store whose artifacts stay in tmp_path (not ./mlruns)."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/m.db")
    experiment = mlflow.create_experiment("artifacts", (tmp_path / "artifacts").as_uri())
    yield tmp_path, experiment
    mlflow.set_tracking_uri(previous)


def _saved(tmp_path, metadata):
    dataset = TextDataset(filepath=str(tmp_path / "report.md"), metadata=metadata)
    dataset.save("hello")
    return dataset


def test_a_dataset_with_an_artifact_path_is_logged_in_that_folder(tracking):
    folder, experiment = tracking
    dataset = _saved(folder, {"mlflow": {"artifact_path": "reports"}})
    with mlflow.start_run(experiment_id=experiment) as run:
        log_saved_dataset(dataset, "hello")
    listed = mlflow.artifacts.list_artifacts(run_id=run.info.run_id, artifact_path="reports")
    assert [a.path for a in listed] == ["reports/report.md"]


def test_nothing_is_logged_without_metadata_or_without_a_run(tracking):
    folder, experiment = tracking
    plain = _saved(folder, None)
    with mlflow.start_run(experiment_id=experiment) as run:
        log_saved_dataset(plain, "hello")
    assert mlflow.artifacts.list_artifacts(run_id=run.info.run_id) == []
    log_saved_dataset(_saved(folder, {"mlflow": {"artifact_path": "reports"}}), "hello")
    assert mlflow.active_run() is None
