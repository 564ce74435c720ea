"""``ingest``: the configured image source as uint8 tensors, validated, with a data report."""

from deepvision.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
