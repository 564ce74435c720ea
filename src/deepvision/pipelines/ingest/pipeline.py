"""Wiring of the ``ingest`` pipeline."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.ingest.nodes import ingest_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(ingest_images, inputs="params:ingest",
             outputs=["raw_images", "raw_test_images", "ingest_report"],
             name="ingest_images", tags=["ingest"]),
    ])
