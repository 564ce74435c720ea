"""Wiring of the ``study`` pipeline: one namespaced build → train → evaluate pipeline per
architecture in ``study.architectures``, all on the shared ``train_split`` / ``val_split`` /
``test_split``, gathered into one report.

A pipeline's shape is fixed when Kedro registers it, before the run's parameters exist, so the list
of architectures is read here from the project's configuration (``conf/base`` + ``conf/local``, or
``$KEDRO_ENV``); ``architecture_params`` fails at once if the run's ``params:study`` names a
different list.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial, update_wrapper
from pathlib import Path

from kedro.framework.project import settings
from kedro.pipeline import Node, Pipeline, pipeline
from kedro.utils import find_kedro_project

from deepvision.pipelines.build.nodes import build_model
from deepvision.pipelines.evaluate.pipeline import metrics_pipeline
from deepvision.pipelines.study.nodes import (
    architecture_params,
    child_run,
    pareto_plots,
    study_markdown,
    study_row,
    study_runs,
    study_table,
)
from deepvision.pipelines.train.nodes import train_model

SPLITS = {"train_split", "val_split", "test_split"}


def configured_architectures() -> list[str]:
    """``study.architectures`` from the configuration of the project around the working
    directory; empty outside a project or without the key (the report then has no rows)."""
    project = find_kedro_project(Path.cwd())
    if project is None:
        return []
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(project / settings.CONF_SOURCE),
                                          env=os.environ.get("KEDRO_ENV"),
                                          **settings.CONFIG_LOADER_ARGS)
    return list((loader["parameters"].get("study") or {}).get("architectures") or [])


def architecture_pipeline(architecture: str, registered: Sequence[str]) -> Pipeline:
    """params → build → train → evaluate → summary of one architecture (not yet namespaced)."""
    return Pipeline([
        Node(update_wrapper(partial(architecture_params, architecture=architecture,
                                    registered=tuple(registered)), architecture_params),
             inputs=["params:study", "params:train"], outputs=["model_params", "train_params"],
             name="architecture_params"),
        Node(build_model, inputs=["train_split", "model_params"],
             outputs=["initial_model", "model_card"], name="build_model"),
        Node(train_model, inputs=["initial_model", "train_split", "val_split", "train_params",
                                  "params:augment", "params:data"],
             outputs=["trained_model", "training_history"], name="train_model"),
        metrics_pipeline(train="train_params"),
        Node(study_row, inputs=["model_params", "training_history", "test_metrics"],
             outputs="study_row", name="study_row"),
        Node(child_run, inputs=["model_params", "train_params", "params:augment",
                                "training_history", "test_metrics"],
             outputs="child_run", name="child_run"),
    ])


def create_pipeline(architectures: Sequence[str] | None = None, **kwargs) -> Pipeline:
    names = list(configured_architectures() if architectures is None else architectures)
    # Each namespace hands its summaries out under plain names, which the report nodes gather.
    per_architecture = [pipeline(architecture_pipeline(a, names), namespace=a, inputs=SPLITS,
                                 parameters={"study", "train", "augment", "evaluate", "data"},
                                 outputs={"study_row": f"study_row_{a}",
                                          "child_run": f"child_run_{a}"})
                        for a in names]
    return Pipeline([
        *per_architecture,
        Node(study_table, inputs=[f"study_row_{a}" for a in names], outputs="study_report",
             name="study_table"),
        Node(study_markdown, inputs="study_report", outputs="study_report_md",
             name="study_markdown"),
        Node(study_runs, inputs=[f"child_run_{a}" for a in names], outputs="study_child_runs",
             name="study_runs"),
        Node(pareto_plots, inputs="study_report",
             outputs=["pareto_parameters", "pareto_macs", "pareto_train_time"],
             name="pareto_plots"),
    ], tags=["study"])
