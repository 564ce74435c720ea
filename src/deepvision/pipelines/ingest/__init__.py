"""``ingest``: read the configured image source into uint8 tensors, validated, with a data report."""

from deepvision.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
