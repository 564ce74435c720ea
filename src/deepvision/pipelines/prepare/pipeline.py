"""Wiring of the ``prepare`` pipeline."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.prepare.nodes import preview_augmentation, split_dataset


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(split_dataset, inputs=["raw_images", "raw_test_images", "params:split"],
             outputs=["train_split", "val_split", "test_split", "split_report"],
             name="split_dataset"),
        Node(preview_augmentation, inputs=["train_split", "params:augment"],
             outputs="augmentation_preview", name="preview_augmentation"),
    ], tags=["prepare"])
