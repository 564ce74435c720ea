"""Wiring of the ``pretrain`` pipeline."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.pretrain.nodes import pretrain_backbone, pretraining_metrics


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(pretrain_backbone,
             inputs=["train_split", "val_split", "params:pretrain", "params:train",
                     "params:augment", "params:model"],
             outputs=["pretrained_backbone", "pretraining_history"], name="pretrain_backbone"),
        Node(pretraining_metrics, inputs="pretraining_history",
             outputs=["pretraining_curves", "pretraining_summary"], name="pretraining_metrics"),
    ], tags=["pretrain"])
