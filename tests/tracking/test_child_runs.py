"""``MlflowChildRunsDataset`` against a throw-away SQLite tracking store."""

import mlflow
import pytest
from kedro.io import DatasetError
from mlflow.tracking import MlflowClient

from deepvision.tracking.child_runs import MlflowChildRunsDataset

RUNS = {
    "lenet5": {"params": {"model.name": "lenet5", "train.epochs": 2},
               "metrics": {"test_accuracy": 0.9, "parameters": 61706},
               "curves": {"val_accuracy": [0.5, 0.8]}, "tags": {"architecture": "lenet5"}},
    "resnet20": {"params": {"model.name": "resnet20", "train.epochs": 2},
                 "metrics": {"test_accuracy": 0.95}, "curves": {"val_accuracy": [0.6, 0.9]},
                 "tags": {"architecture": "resnet20"}},
}


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    """One SQLite store for the module (creating its schema takes seconds); the previous tracking
    URI is restored afterwards."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/m.db")
    yield MlflowClient()
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def experiment(tracking, request) -> str:
    """A fresh experiment per test, so each test sees only its own runs."""
    return tracking.create_experiment(request.node.name)


def test_children_of_the_active_run_share_its_experiment_and_line_up(tracking, experiment):
    with mlflow.start_run(experiment_id=experiment, run_name="study") as parent:
        MlflowChildRunsDataset().save(RUNS)
        loaded = MlflowChildRunsDataset().load()
    parent_id = parent.info.run_id
    children = tracking.search_runs([parent.info.experiment_id],
                                    filter_string=f"tags.study = '{parent_id}'",
                                    order_by=["attributes.run_name"])
    assert [c.info.run_name for c in children] == ["lenet5", "resnet20"]
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent_id
        assert child.info.experiment_id == parent.info.experiment_id
        assert child.info.status == "FINISHED"
    lenet = children[0]
    assert lenet.data.params == {"model.name": "lenet5", "train.epochs": "2"}
    assert lenet.data.metrics["parameters"] == 61706
    assert lenet.data.tags["architecture"] == "lenet5"
    history = tracking.get_metric_history(lenet.info.run_id, "val_accuracy")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.8)]

    assert loaded["lenet5"] == {**RUNS["lenet5"], "params": {"model.name": "lenet5",
                                                             "train.epochs": "2"},
                                "tags": {"architecture": "lenet5", "study": parent_id}}
    assert tracking.get_run(parent_id).data.metrics == {}  # nothing logged to the parent


def test_without_an_active_run_the_runs_are_top_level(tracking, experiment, monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment)  # the "current experiment"
    MlflowChildRunsDataset().save({"lenet5": RUNS["lenet5"]})
    [run] = tracking.search_runs([experiment])
    assert run.info.run_name == "lenet5" and "mlflow.parentRunId" not in run.data.tags
    assert mlflow.active_run() is None
    with pytest.raises(DatasetError, match="no run is active"):
        MlflowChildRunsDataset().load()


def test_more_params_than_one_batch_holds(tracking, experiment):
    params = {f"p{i}": i for i in range(250)}  # log_batch takes at most 100 params
    with mlflow.start_run(experiment_id=experiment):
        MlflowChildRunsDataset().save({"wide": {"params": params}})
        [run] = MlflowChildRunsDataset().load().values()
    assert run["params"] == {k: str(v) for k, v in params.items()}


def test_a_run_that_cannot_be_logged_is_marked_failed(tracking, experiment):
    with mlflow.start_run(experiment_id=experiment), pytest.raises(DatasetError, match="saving"):
        MlflowChildRunsDataset().save({"broken": {"metrics": {"accuracy": "high"}}})
    [child] = [r for r in tracking.search_runs([experiment]) if r.info.run_name == "broken"]
    assert child.info.status == "FAILED"
