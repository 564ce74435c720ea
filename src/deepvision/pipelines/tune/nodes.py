"""Nodes of the ``tune`` pipeline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from deepvision.config import flatten
from deepvision.data.imageset import ImageSet
from deepvision.pipelines.metrics import as_metrics
from deepvision.pipelines.params import parse_tune
from deepvision.tuning import (
    SearchResult,
    TuneCallbacks,
    apply_params,
    make_training_objective,
    run_search,
    search_figures,
)

PLOTS = ("optimization_history", "param_importances", "parallel_coordinate")


def search_hyperparameters(train_split: ImageSet, val_split: ImageSet, tune: dict[str, Any],
                           train: dict[str, Any], augment: dict[str, Any], model: dict[str, Any],
                           *, make_callbacks: Callable[[str], TuneCallbacks]) -> SearchResult:
    """Run or resume the study; each trial trains on train_split and is scored on val_split."""
    cfg = parse_tune(tune)
    base = {"train": train, "augment": augment, "model": model}
    return run_search(cfg, make_training_objective(train_split, val_split, cfg), base,
                      make_callbacks(cfg.study_name))


def extract_best_params(tune_result: SearchResult, tune: dict[str, Any]
                        ) -> dict[str, dict[str, Any]]:
    """The best trial's values nested by section, plus tune.epochs if it set the trials' epochs."""
    # Only the tuned keys: with the soft merge of config environments they override just these,
    # and machine-specific keys (device, threads, checkpoint_dir) stay where the user set them.
    epochs = parse_tune(tune).epochs
    fixed = {} if epochs is None else {"train.epochs": epochs}
    nested = apply_params({}, {**tune_result.best_params, **fixed})
    return {section: values for section, values in nested.items() if values}


def flatten_best_params(best_params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """best_params as dotted keys (train.lr), the form MLflow parameters and --params take."""
    return flatten(best_params)


def trials_table(tune_result: SearchResult) -> pd.DataFrame:
    """One row per trial of the study: number, state, value, duration and sampled values."""
    return pd.DataFrame([{k: t[k] for k in ("number", "state", "value", "duration_s")}
                         | t["params"] for t in tune_result.trials])


def search_metrics(tune_result: SearchResult) -> dict[str, dict[str, float]]:
    """The search's best value and trial counts, in MLflow's metric format."""
    states = Counter(t["state"] for t in tune_result.trials)
    values = {"best_value": tune_result.best_value, "n_complete": states["COMPLETE"],
              "n_pruned": states["PRUNED"]}
    return as_metrics(values)


def search_plots(tune_result: SearchResult) -> tuple[go.Figure, go.Figure, go.Figure]:
    """Optimisation history, parameter importances and parallel coordinates of the search."""
    figures = search_figures(tune_result.study)
    return tuple(figures.get(name) or _placeholder(name) for name in PLOTS)


def _placeholder(name: str) -> go.Figure:
    # Importances need two completed trials that differ; an explicit empty page beats a missing
    # file that a later run's version would silently stand in for.
    return go.Figure(layout={"title": {"text": f"{name}: not enough completed trials yet"}})
