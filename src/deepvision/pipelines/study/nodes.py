"""Nodes of the ``study`` pipeline: per-architecture parameters in, one table, its Pareto plots
and one MLflow child run per architecture out. Building, training and evaluating reuse the
``build``, ``train`` and ``evaluate`` node functions."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from deepvision.config import ConfigError, flatten
from deepvision.pipelines.params import parse_study, parse_train
from deepvision.pipelines.train.nodes import CURVES
from deepvision.reporting.plots import pareto_figure
from deepvision.reporting.tables import to_markdown

TABLE_COLUMNS = ("architecture", "parameters", "macs", "train_seconds", "train_images_per_s",
                 "best_val_accuracy", "test_accuracy", "latency_ms_batch1",
                 "inference_images_per_s")


def architecture_params(study: dict[str, Any], train: dict[str, Any], architecture: str,
                        registered: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``params:model`` block of ``architecture`` and its training budget over ``train``."""
    cfg = parse_study(study)
    if list(cfg.architectures) != list(registered):
        raise ConfigError(f"study.architectures is {list(cfg.architectures)} but the study "
                          f"pipeline was built for {list(registered)}: the list is read when "
                          "Kedro registers pipelines, so change it in parameters_study.yml "
                          "(conf/base or conf/local), not with --params")
    budget = {**train, **cfg.train}
    # A checkpoint name per architecture, so a checkpoint_dir in the budget never mixes models.
    budget["run_name"] = f"{budget.get('run_name', 'train')}-{architecture}"
    parse_train(budget)
    return {"name": architecture, "kwargs": {}, "seed": cfg.seed}, budget


def study_row(model_params: dict[str, Any], training_history: dict[str, Any],
              test_metrics: dict[str, float]) -> dict[str, Any]:
    """One architecture's line of the study table."""
    history = training_history["history"]
    val = [r["val_accuracy"] for r in history if "val_accuracy" in r]
    return {"architecture": model_params["name"], "parameters": int(test_metrics["parameters"]),
            "macs": int(test_metrics["macs"]), "train_seconds": training_history["train_seconds"],
            # The median epoch: the first one also pays for warm-up and allocation.
            "train_images_per_s": statistics.median(r["images_per_second"] for r in history),
            "best_val_accuracy": max(val) if val else math.nan,
            "test_accuracy": test_metrics["test_accuracy"],
            "latency_ms_batch1": test_metrics["latency_ms_batch1"],
            "inference_images_per_s": test_metrics["throughput_images_per_s"]}


def child_run(model_params: dict[str, Any], train_params: dict[str, Any],
              augment: dict[str, Any], training_history: dict[str, Any],
              test_metrics: dict[str, float]) -> dict[str, dict[str, Any]]:
    """One architecture as an MLflow run: params, final metrics and per-epoch curves."""
    history = training_history["history"]
    summary = {k: v for k, v in training_history.items() if k != "history"}
    curves = {k: [r[k] for r in history] for k in CURVES if all(k in r for r in history)}
    params = flatten({"model": model_params, "train": train_params, "augment": augment})
    return {model_params["name"]: {"params": params, "metrics": {**summary, **test_metrics},
                                   "curves": curves,
                                   "tags": {"architecture": model_params["name"]}}}


def study_table(*rows: dict[str, Any]) -> pd.DataFrame:
    """All architectures' rows, in the configured order."""
    return pd.DataFrame(list(rows), columns=list(TABLE_COLUMNS))


def study_markdown(study_report: pd.DataFrame) -> str:
    """The table as Markdown, with a title."""
    return "# Architecture study\n\n" + to_markdown(study_report.to_dict("records"))


def study_runs(*runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """All architectures' MLflow child runs, keyed by run name."""
    return {name: run for entry in runs for name, run in entry.items()}


def pareto_plots(study_report: pd.DataFrame) -> tuple[Figure, Figure, Figure]:
    """Test accuracy against parameters, MACs and training time, Pareto fronts joined."""
    # Millions read better on the log axis (0.1, 1, 10) than 1e+05, 1e+06, 1e+07.
    rows = [{**r, "parameters_m": r["parameters"] / 1e6, "macs_m": r["macs"] / 1e6}
            for r in study_report.to_dict("records")]
    axes = (("parameters_m", "parameters", "parameters (millions)"),
            ("macs_m", "MACs per image", "MACs per image (millions)"),
            ("train_seconds", "training time", "training time (s)"))
    return tuple(pareto_figure(rows, x, "test_accuracy", "architecture", x_label,
                               "test accuracy", title=f"Test accuracy vs {what}")
                 for x, what, x_label in axes)
