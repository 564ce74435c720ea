"""Wiring of the ``train`` pipeline."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.train.nodes import train_model, training_metrics
from deepvision.tracking.curves import log_epoch


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(_with_live_curves(train_model),
             inputs=["initial_model", "train_split", "val_split", "params:train", "params:augment",
                     "params:data"],
             outputs=["trained_model", "training_history"], name="train_model"),
        Node(training_metrics, inputs="training_history", outputs="training_summary",
             name="training_metrics"),
    ], tags=["train"])


def _with_live_curves(train):
    # The MLflow logger is injected here, so the node itself stays free of MLflow (as tune's
    # trial callbacks); the wrapper keeps the node's name for Kedro's logs.
    return update_wrapper(partial(train, on_epoch_end=log_epoch), train)
