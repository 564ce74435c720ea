"""Wiring of the ``tune`` pipeline."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.tune.nodes import (
    extract_best_params,
    flatten_best_params,
    search_hyperparameters,
    search_metrics,
    search_plots,
    trials_table,
)
from deepvision.tracking.trials import mlflow_trial_callbacks


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(_with_mlflow_tracking(search_hyperparameters),
             inputs=["train_split", "val_split", "params:tune", "params:train", "params:augment",
                     "params:model"],
             outputs="tune_result", name="search_hyperparameters"),
        Node(extract_best_params, inputs=["tune_result", "params:tune"], outputs="best_params",
             name="extract_best_params"),
        Node(flatten_best_params, inputs="best_params", outputs="best_params_mlflow",
             name="flatten_best_params"),
        Node(trials_table, inputs="tune_result", outputs="tune_trials", name="trials_table"),
        Node(search_metrics, inputs="tune_result", outputs="tune_summary", name="search_metrics"),
        Node(search_plots, inputs="tune_result",
             outputs=["optimization_history_plot", "param_importances_plot",
                      "parallel_coordinate_plot"], name="search_plots"),
    ], tags=["tune"])


def _with_mlflow_tracking(search):
    # The MLflow adapter is injected here, so the node itself stays free of MLflow; the wrapper
    # keeps the node's name for Kedro's logs.
    return update_wrapper(partial(search, make_callbacks=mlflow_trial_callbacks), search)
