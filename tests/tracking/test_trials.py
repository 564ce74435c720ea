"""deepvision.tracking.trials: every tuning trial as a nested MLflow run of the active run."""

import logging

import mlflow
import optuna
import pytest
from mlflow.tracking import MlflowClient

from deepvision.tracking.params import MlflowParamsDataset
from deepvision.tracking.trials import mlflow_trial_callbacks
from deepvision.tuning import TuneConfig, make_training_objective, run_search
from tests.synthetic import base_params, tiny_splits

SPACE = {"train.lr": {"type": "log_uniform", "low": 0.01, "high": 0.2},
         "augment.crop_padding": {"type": "int", "low": 0, "high": 1}}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One SQLite tracking store for the module (creating its schema takes seconds)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    yield MlflowClient(uri)
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def experiment(client, request) -> str:
    return client.create_experiment(request.node.name)


@pytest.fixture
def cfg(tmp_path):
    def make(**overrides) -> TuneConfig:
        kwargs = {"storage": f"sqlite:///{tmp_path / 'tune.db'}", "study_name": "tiny",
                  "n_trials": 3, "epochs": 2, "sampler": "random", "pruner": "none",
                  "space": SPACE, **overrides}
        return TuneConfig(**kwargs)
    return make


def search(cfg: TuneConfig, experiment: str):
    """run_search on the tiny data inside a parent run, as kedro-mlflow's run would be."""
    train, val, _ = tiny_splits()
    with mlflow.start_run(experiment_id=experiment) as parent:
        result = run_search(cfg, make_training_objective(train, val, cfg), base_params(),
                            mlflow_trial_callbacks(cfg.study_name))
        # Trials never touch the active-run stack: later pipeline outputs still reach the parent.
        assert mlflow.active_run().info.run_id == parent.info.run_id
    return parent.info.run_id, result


def children(client: MlflowClient, experiment: str, parent: str) -> dict[int, mlflow.entities.Run]:
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")
    return {int(r.data.tags["trial_number"]): r for r in runs}


def test_each_trial_is_a_nested_run_with_its_params_curves_and_value(client, experiment, cfg):
    parent, result = search(cfg(), experiment)
    runs = children(client, experiment, parent)
    assert sorted(runs) == [0, 1, 2]
    for trial in result.trials:
        run = runs[trial["number"]]
        assert run.data.params == {k: str(v) for k, v in trial["params"].items()}
        assert run.data.tags["trial_state"] == "COMPLETE" and run.info.status == "FINISHED"
        assert run.data.tags["study_name"] == "tiny"
        assert run.data.metrics["value"] == pytest.approx(trial["value"])
        for curve in ("train_loss", "val_accuracy", "lr"):
            history = client.get_metric_history(run.info.run_id, curve)
            assert [m.step for m in history] == [1, 2]
        best = max(m.value for m in client.get_metric_history(run.info.run_id, "val_accuracy"))
        assert best == pytest.approx(trial["value"])
    # The parent itself is not a trial.
    assert "trial_state" not in client.get_run(parent).data.tags


def test_pruned_trial_is_marked_pruned_in_mlflow_and_optuna(client, experiment, cfg):
    config = cfg(n_trials=2, space={"train.lr": {"type": "log_uniform", "low": 0.01,
                                                 "high": 1e9}})
    study = optuna.create_study(study_name="tiny", storage=config.storage, direction="maximize")
    study.enqueue_trial({"train.lr": 0.05})
    study.enqueue_trial({"train.lr": 1e9})  # diverges in the first epoch, which prunes it
    parent, result = search(config, experiment)
    assert [t["state"] for t in result.trials] == ["COMPLETE", "PRUNED"]
    optuna_states = [t.state for t in optuna.load_study(study_name="tiny",
                                                        storage=config.storage).trials]
    assert optuna_states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    pruned = children(client, experiment, parent)[1]
    assert pruned.data.tags["trial_state"] == "PRUNED" and pruned.info.status == "KILLED"
    assert pruned.data.params == {"train.lr": str(1e9)}
    assert "value" not in pruned.data.metrics  # it never reported a value


def test_resuming_logs_no_run_for_finished_trials(client, experiment, cfg):
    first, _ = search(cfg(), experiment)
    again, result = search(cfg(), experiment)
    more, _ = search(cfg(n_trials=4), experiment)
    assert sorted(children(client, experiment, first)) == [0, 1, 2]
    assert children(client, experiment, again) == {}
    assert sorted(children(client, experiment, more)) == [3]
    assert len(optuna.load_study(study_name="tiny", storage=cfg().storage).trials) == 4
    assert len(result.trials) == 3


def test_without_an_active_run_trials_are_not_tracked(client, caplog):
    assert mlflow.active_run() is None
    with caplog.at_level(logging.WARNING, logger="deepvision.tracking.trials"):
        callbacks = mlflow_trial_callbacks("tiny")
    callbacks.trial_started(0, {"train.lr": 0.1})
    callbacks.trial_finished(0, "COMPLETE", 0.5, {"train.lr": 0.1}, [])
    assert "not tracked" in caplog.text
    assert mlflow.active_run() is None


def test_params_dataset_logs_prefixed_params_to_the_active_run(client, experiment):
    dataset = MlflowParamsDataset(prefix="best_params")
    with mlflow.start_run(experiment_id=experiment) as run:
        dataset.save({"train.lr": 0.05, "augment.crop_padding": 2})
    assert client.get_run(run.info.run_id).data.params == {
        "best_params.train.lr": "0.05", "best_params.augment.crop_padding": "2"}
    dataset._logging_activated = False  # what kedro-mlflow does for untracked pipelines
    with mlflow.start_run(experiment_id=experiment) as off:
        dataset.save({"train.lr": 0.05})
    assert client.get_run(off.info.run_id).data.params == {}
