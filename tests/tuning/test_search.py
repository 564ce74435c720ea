import math
import subprocess
import sys
import textwrap

import optuna
import plotly.graph_objects as go
import pytest

from deepvision.config import ConfigError
from deepvision.tuning import (
    TuneCallbacks,
    TuneConfig,
    apply_params,
    make_training_objective,
    run_search,
    search_figures,
)


class Recorder:
    """TuneCallbacks that keep every event."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.hooks = TuneCallbacks(
            trial_started=lambda n, p: self.events.append(("started", n, p)),
            epoch_end=lambda n, r: self.events.append(("epoch", n, r["epoch"])),
            trial_finished=lambda n, s, v, p, h: self.events.append(
                ("finished", n, s, v, p, len(h))))

    def of(self, kind: str) -> list[tuple]:
        return [e for e in self.events if e[0] == kind]


def scripted_objective(curves: list[list[float]]):
    """Trial i reports ``curves[i]`` at steps 1, 2, ... and returns its last value."""
    calls = []

    def objective(params, reporter):
        calls.append(params)
        curve = curves[len(calls) - 1]
        for step, value in enumerate(curve, start=1):
            reporter.epoch_end({"epoch": step, "val_accuracy": value}, "val_accuracy")
        return curve[-1]

    objective.calls = calls
    return objective


def test_bad_trial_is_pruned_and_callbacks_see_every_trial(tune_cfg):
    cfg = tune_cfg(n_trials=4, pruner="median", n_startup_trials=2,
                   prune_after_epochs=1)
    objective = scripted_objective([[0.8, 0.9, 0.9], [0.7, 0.8, 0.8], [0.8, 0.9, 0.9],
                                    [0.1, 0.1, 0.1]])
    rec = Recorder()
    result = run_search(cfg, objective, {"train": {"lr": 0.1}}, rec.hooks)
    assert [t["state"] for t in result.trials] == ["COMPLETE"] * 3 + ["PRUNED"]
    assert result.trials[3]["value"] == 0.1 and result.best_value == 0.9
    assert result.best_trial in (0, 2)
    assert [e[1:] for e in rec.of("started")] == [(t["number"], t["params"]) for t in result.trials]
    assert [(e[2], e[3], e[5]) for e in rec.of("finished")] == [
        ("COMPLETE", 0.9, 3), ("COMPLETE", 0.8, 3), ("COMPLETE", 0.9, 3), ("PRUNED", 0.1, 1)]
    assert [e[4] for e in rec.of("finished")] == [t["params"] for t in result.trials]
    assert len(rec.of("epoch")) == 10
    # The objective got the base params with the trial's values laid over them.
    assert [c["train"]["lr"] for c in objective.calls] == [
        t["params"]["train.lr"] for t in result.trials]
    nested = apply_params({"train": {"lr": 0.1, "epochs": 9}}, result.best_params)
    assert nested["train"] == {"lr": result.best_params["train.lr"], "epochs": 9}


def test_rerun_resumes_instead_of_repeating(tune_cfg):
    objective = scripted_objective([[0.5]] * 5)
    first = run_search(tune_cfg(n_trials=3), objective, {})
    assert len(objective.calls) == 3
    again = run_search(tune_cfg(n_trials=3), objective, {})
    assert len(objective.calls) == 3 and again.best_trial == first.best_trial
    more = run_search(tune_cfg(n_trials=5), objective, {})
    assert len(objective.calls) == 5 and [t["number"] for t in more.trials] == [0, 1, 2, 3, 4]
    # The continuation draws new values rather than replaying the first run's random stream.
    assert more.trials[3]["params"] != more.trials[0]["params"]


def test_resumed_study_must_keep_its_objective(tune_cfg):
    run_search(tune_cfg(n_trials=1), scripted_objective([[0.5]]), {})
    with pytest.raises(ConfigError, match="optimises 'val_accuracy', not tune.metric='train_acc"):
        run_search(tune_cfg(n_trials=2, metric="train_accuracy"), scripted_objective([[0.5]]), {})


def test_failing_objective_stops_the_search_and_reports_fail(tune_cfg):
    def objective(params, reporter):
        raise RuntimeError("boom")

    rec = Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        run_search(tune_cfg(), objective, {}, rec.hooks)
    assert [e[2:4] for e in rec.of("finished")] == [("FAIL", None)]


WORKER = """
import pathlib, sys, time
from deepvision.tuning import TuneCallbacks, TuneConfig, run_search

folder, me = pathlib.Path(sys.argv[1]), sys.argv[2]
(folder / f"ready-{me}").touch()
deadline = time.monotonic() + 60
while len(list(folder.glob("ready-*"))) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)

def objective(params, reporter):
    time.sleep(0.3)
    return params["train"]["lr"]

cfg = TuneConfig(storage=f"sqlite:///{folder / 'tune.db'}", study_name="shared", n_trials=4,
                 sampler="random", seed=int(me),
                 space={"train.lr": {"type": "uniform", "low": 0.01, "high": 0.1}})
ran = []
run_search(cfg, objective, {}, TuneCallbacks(trial_finished=lambda n, *_: ran.append(n)))
print(len(ran))
"""


def test_two_workers_share_one_sqlite_study(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    workers = [subprocess.Popen([sys.executable, str(script), str(tmp_path), str(i)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{tmp_path / 'tune.db'}")
    finished = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert sorted(t.number for t in finished) == [0, 1, 2, 3]
    # Both workers took part and together ran the budget once, not once each.
    ran = [int(out.split()[-1]) for out, _ in outputs]
    assert min(ran) >= 1 and sum(ran) == 4
    # Two workers finishing at the same instant may both start a trial for the last slot; the
    # later one is recorded as FAIL (never run, never counted).
    assert all(t.state == optuna.trial.TrialState.FAIL for t in study.trials if t not in finished)


def test_training_objective_uses_fit_and_reports_each_epoch(tune_cfg, splits, base_params,
                                                            tmp_path):
    train, val = splits
    base_params["train"]["checkpoint_dir"] = str(tmp_path / "ckpt")
    cfg = tune_cfg(n_trials=3, epochs=2, pruner="median", n_startup_trials=1, space={
        "train.lr": {"type": "log_uniform", "low": 0.01, "high": 0.2},
        "augment.hflip": {"type": "categorical", "choices": [True, False]}})
    rec = Recorder()
    result = run_search(cfg, make_training_objective(train, val, cfg), base_params, rec.hooks)
    assert len(result.trials) == 3 and len(rec.of("finished")) == 3
    for trial, finished in zip(result.trials, rec.of("finished"), strict=True):
        assert trial["state"] == finished[2] and trial["params"] == finished[4]
        epochs = [e[2] for e in rec.of("epoch") if e[1] == trial["number"]]
        assert epochs == [1, 2] if trial["state"] == "COMPLETE" else epochs[:1] == [1]
    values = [t["value"] for t in result.trials if t["state"] == "COMPLETE"]
    assert result.best_value == max(values) and 0 <= result.best_value <= 1
    # Trials never checkpoint, whatever train.checkpoint_dir says.
    assert not (tmp_path / "ckpt").exists()


def test_diverging_trial_is_pruned_not_fatal(splits, base_params):
    cfg = TuneConfig(storage=None, n_trials=1, epochs=1, pruner="none",
                     space={"train.lr": {"type": "log_uniform", "low": 1e8, "high": 1e9}})
    rec = Recorder()
    with pytest.raises(RuntimeError, match=r"no completed trial \({'PRUNED': 1}; diverging"):
        run_search(cfg, make_training_objective(*splits, cfg), base_params, rec.hooks)
    assert [e[2] for e in rec.of("finished")] == ["PRUNED"]


def test_study_figures(tune_cfg):
    objective = scripted_objective([[0.5], [0.7], [0.6]])
    study = run_search(tune_cfg(n_trials=3), objective, {}).study
    figures = search_figures(study)
    assert set(figures) == {"optimization_history", "parallel_coordinate", "param_importances"}
    assert all(isinstance(f, go.Figure) for f in figures.values())
    single = run_search(tune_cfg(n_trials=1, study_name="one"), scripted_objective([[0.5]]), {})
    assert set(search_figures(single.study)) == {"optimization_history", "parallel_coordinate"}


def test_hyperband_pruner_runs(tune_cfg):
    objective = scripted_objective([[0.5, 0.6, 0.7]] * 3)
    result = run_search(tune_cfg(pruner="hyperband"), objective, {})
    assert {t["state"] for t in result.trials} <= {"COMPLETE", "PRUNED"}


def test_nan_objective_is_reported_as_fail(tune_cfg):
    rec = Recorder()
    run_search(tune_cfg(n_trials=2), scripted_objective([[0.5], [math.nan]]), {}, rec.hooks)
    assert [e[2] for e in rec.of("finished")] == ["COMPLETE", "FAIL"]
