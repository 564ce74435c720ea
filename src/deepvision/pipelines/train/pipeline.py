"""Wiring of the ``train`` pipeline."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.train.nodes import train_model, training_metrics


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(train_model,
             inputs=["initial_model", "train_split", "val_split", "params:train", "params:augment",
                     "params:data"],
             outputs=["trained_model", "training_history"], name="train_model"),
        Node(training_metrics, inputs="training_history",
             outputs=["training_curves", "training_summary"], name="training_metrics"),
    ], tags=["train"])
