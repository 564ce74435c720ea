"""Nodes of the ``study`` pipeline and the ``study`` parameter check, on hand-made inputs."""

import math

import pandas as pd
import pytest

from deepvision.config import ConfigError
from deepvision.pipelines.params import PARSERS
from deepvision.pipelines.study.nodes import (
    TABLE_COLUMNS,
    architecture_params,
    child_run,
    flatten,
    pareto_plots,
    study_markdown,
    study_row,
    study_runs,
    study_table,
)

STUDY = {"architectures": ["lenet5", "resnet20"], "seed": 3, "train": {"epochs": 4}}
TRAIN = {"epochs": 30, "lr": 0.1, "run_name": "train", "checkpoint_dir": "ckpt"}
HISTORY = {"best_epoch": 2, "best_val_accuracy": 0.9, "train_seconds": 3.0, "epochs_run": 3,
           "history": [{"epoch": e, "train_loss": 1 / e, "val_accuracy": acc, "lr": 0.1,
                        "images_per_second": ips}
                       for e, acc, ips in ((1, 0.5, 100.0), (2, 0.9, 300.0), (3, 0.8, 200.0))]}
METRICS = {"test_accuracy": 0.85, "test_loss": 0.4, "parameters": 1000, "macs": 5000,
           "latency_ms_batch1": 0.5, "throughput_images_per_s": 9000.0}


def test_architecture_params_lay_the_budget_over_train():
    model, train = architecture_params(STUDY, TRAIN, "resnet20", ["lenet5", "resnet20"])
    assert model == {"name": "resnet20", "kwargs": {}, "seed": 3}
    assert train == {"epochs": 4, "lr": 0.1, "run_name": "train-resnet20",
                     "checkpoint_dir": "ckpt"}
    assert TRAIN["run_name"] == "train" and TRAIN["epochs"] == 30  # inputs untouched


def test_architecture_params_refuse_a_list_other_than_the_registered_one():
    with pytest.raises(ConfigError, match="read when Kedro registers"):
        architecture_params(STUDY, TRAIN, "lenet5", ["lenet5"])


def test_a_budget_that_breaks_train_fails_with_its_key():
    study = {**STUDY, "train": {"lr": -1}}
    with pytest.raises(ConfigError, match=r"train\.lr"):
        architecture_params(study, TRAIN, "lenet5", ["lenet5", "resnet20"])


def test_study_row_takes_the_best_val_accuracy_and_median_throughput():
    row = study_row({"name": "lenet5"}, HISTORY, METRICS)
    assert list(row) == list(TABLE_COLUMNS)
    assert row["best_val_accuracy"] == 0.9 and row["train_images_per_s"] == 200.0
    assert (row["parameters"], row["macs"], row["test_accuracy"]) == (1000, 5000, 0.85)
    no_val = {**HISTORY, "history": [{"epoch": 1, "images_per_second": 1.0}]}
    assert math.isnan(study_row({"name": "lenet5"}, no_val, METRICS)["best_val_accuracy"])


def test_child_run_has_flat_params_final_metrics_and_curves():
    run = child_run({"name": "lenet5", "kwargs": {}, "seed": 0}, TRAIN, {"hflip": False},
                    HISTORY, METRICS)["lenet5"]
    assert run["params"] == {"model.name": "lenet5", "model.seed": 0, "train.epochs": 30,
                             "train.lr": 0.1, "train.run_name": "train",
                             "train.checkpoint_dir": "ckpt", "augment.hflip": False}
    assert run["metrics"]["best_epoch"] == 2 and run["metrics"]["test_accuracy"] == 0.85
    assert run["curves"]["val_accuracy"] == [0.5, 0.9, 0.8]
    assert "train_accuracy" not in run["curves"]  # not recorded, so no curve
    assert run["tags"] == {"architecture": "lenet5"}


def test_flatten_and_study_runs_merge():
    assert flatten({"a": {"b": {"c": 1}, "d": [1, 2]}, "e": None}) == {
        "a.b.c": 1, "a.d": [1, 2], "e": None}
    assert list(study_runs({"x": {}}, {"y": {}})) == ["x", "y"]


def test_table_markdown_and_pareto_plots():
    rows = [study_row({"name": name}, HISTORY, {**METRICS, "parameters": p, "test_accuracy": acc})
            for name, p, acc in (("small", 1000, 0.8), ("big", 9000, 0.9))]
    table = study_table(*rows)
    assert isinstance(table, pd.DataFrame) and list(table["architecture"]) == ["small", "big"]
    markdown = study_markdown(table)
    assert markdown.splitlines()[2].startswith("| architecture") and "| small" in markdown
    figures = pareto_plots(table)
    assert [f.axes[0].get_title() for f in figures] == [
        "Test accuracy vs parameters", "Test accuracy vs MACs per image",
        "Test accuracy vs training time"]
    assert [f.axes[0].get_xlabel() for f in figures] == [
        "parameters (millions)", "MACs per image (millions)", "training time (s)"]
    assert all(f.axes[0].get_ylabel() == "test accuracy" for f in figures)
    front = next(line for line in figures[0].axes[0].get_lines()
                 if line.get_label() == "Pareto front")
    assert list(front.get_xdata()) == [0.001, 0.009]


@pytest.mark.parametrize(("study", "message"), [
    ({"architectures": []}, "empty"),
    ({"architectures": ["lenet5", "lenet5"]}, "more than once"),
    ({"architectures": ["lenet9"]}, "unknown model 'lenet9'"),
    ({"architectures": ["tv:resnet18"]}, "Kedro namespace"),
    ({"architectures": ["lenet5"], "train": {"epoch": 2}}, r"study\.train\.epoch"),
    ({"architectures": ["lenet5"], "epochs": 2}, r"study\.epochs"),
])
def test_study_parameters_are_checked_before_the_run(study, message):
    with pytest.raises(ConfigError, match=message):
        PARSERS["study"](study)
