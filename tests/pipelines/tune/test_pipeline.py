"""The ``tune`` pipeline on an in-memory catalog, its nodes, and its parameter check."""

import mlflow
import pandas as pd
import plotly.graph_objects as go
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.yaml import YAMLDataset

from deepvision.config import ConfigError
from deepvision.hooks import ValidateParamsHook
from deepvision.pipelines.params import PARSERS
from deepvision.pipelines.tune import create_pipeline
from deepvision.pipelines.tune.nodes import (
    extract_best_params,
    flatten_best_params,
    search_metrics,
    search_plots,
)
from deepvision.tuning import TuneConfig, run_search
from tests.synthetic import base_params, tiny_splits

SPACE = {"train.lr": {"type": "log_uniform", "low": 0.01, "high": 0.2},
         "augment.crop_padding": {"type": "int", "low": 0, "high": 1}}


def tune_params(tmp_path, **overrides) -> dict:
    return {"storage": f"sqlite:///{tmp_path / 'tune.db'}", "study_name": "tiny", "n_trials": 3,
            "epochs": 1, "sampler": "random", "pruner": "none", "space": SPACE, **overrides}


def catalog_for(tmp_path, **tune_overrides) -> DataCatalog:
    train, val, _ = tiny_splits()
    catalog = DataCatalog({"tune_result": MemoryDataset(copy_mode="assign"),  # as catalog_tune.yml
                           "best_params": YAMLDataset(filepath=str(tmp_path / "best_params.yml"))})
    params = base_params()
    for name, value in {"train_split": train, "val_split": val,
                        "params:tune": tune_params(tmp_path, **tune_overrides),
                        "params:train": params["train"], "params:augment": params["augment"],
                        "params:model": params["model"]}.items():
        catalog[name] = value
    return catalog


def test_tune_pipeline_runs_on_an_in_memory_catalog(tmp_path):
    assert mlflow.active_run() is None  # the trials are not tracked: nothing touches mlflow.db
    catalog = catalog_for(tmp_path)
    outputs = SequentialRunner().run(create_pipeline(), catalog)

    best = catalog.load("best_params")
    assert set(best) == {"train", "augment"}
    assert set(best["train"]) == {"lr", "epochs"} and best["train"]["epochs"] == 1
    assert set(best["augment"]) == {"crop_padding"}
    assert outputs["best_params_mlflow"].load() == {
        "train.lr": best["train"]["lr"], "train.epochs": 1,
        "augment.crop_padding": best["augment"]["crop_padding"]}
    trials = outputs["tune_trials"].load()
    assert isinstance(trials, pd.DataFrame) and list(trials["number"]) == [0, 1, 2]
    assert list(trials.columns) == ["number", "state", "value", "duration_s", "train.lr",
                                    "augment.crop_padding"]
    summary = outputs["tune_summary"].load()
    assert summary["n_complete"] == {"step": 0, "value": 3.0}
    assert summary["best_value"]["value"] == pytest.approx(trials["value"].max())
    for name in ("optimization_history_plot", "param_importances_plot", "parallel_coordinate_plot"):
        assert isinstance(outputs[name].load(), go.Figure)


def scripted(values: list[float]):
    calls = iter(values)

    def objective(params, reporter):
        value = next(calls)
        reporter.epoch_end({"epoch": 1, "val_accuracy": value}, "val_accuracy")
        return value
    return objective


def test_best_params_are_nested_by_section_with_only_the_tuned_keys():
    space = {"train.lr": {"type": "log_uniform", "low": 0.01, "high": 0.2},
             "model.kwargs.width": {"type": "categorical", "choices": [8, 16]}}
    cfg = TuneConfig(storage=None, n_trials=2, sampler="random", pruner="none", space=space)
    result = run_search(cfg, scripted([0.5, 0.7]), base_params())
    [best_trial] = [t for t in result.trials if t["value"] == 0.7]
    best = extract_best_params(result, {"storage": None, "space": space, "epochs": None})
    assert best == {"train": {"lr": best_trial["params"]["train.lr"]},
                    "model": {"kwargs": {"width": best_trial["params"]["model.kwargs.width"]}}}
    assert flatten_best_params(best) == best_trial["params"]
    assert search_metrics(result) == {"best_value": {"step": 0, "value": 0.7},
                                     "n_complete": {"step": 0, "value": 2.0},
                                     "n_pruned": {"step": 0, "value": 0.0}}


def test_importances_of_a_single_trial_are_an_explicit_placeholder():
    cfg = TuneConfig(storage=None, n_trials=1, sampler="random", pruner="none", space=SPACE)
    history, importances, parallel = search_plots(run_search(cfg, scripted([0.5]), base_params()))
    assert "not enough completed trials" in importances.layout.title.text
    assert history.data and parallel.data


def test_a_bad_space_fails_in_the_validation_hook_before_any_trial(tmp_path):
    catalog = catalog_for(tmp_path, space={"train.lrr": {"type": "uniform", "low": 0, "high": 1}})
    with pytest.raises(ConfigError, match="did you mean 'train.lr'"):
        ValidateParamsHook().before_pipeline_run({}, create_pipeline(), catalog)
    assert not (tmp_path / "tune.db").exists()


def test_retrain_best_is_refused_with_the_way_to_do_it():
    with pytest.raises(ConfigError, match="tune.retrain_best: true is not supported"):
        PARSERS["tune"]({"retrain_best": True})


def test_retrain_best_false_still_parses_with_a_deprecation_warning():
    with pytest.warns(FutureWarning, match="tune.retrain_best is deprecated"):
        assert PARSERS["tune"]({"retrain_best": False}) == PARSERS["tune"]({})
