"""``study``: the trade-off between architecture size, accuracy and training time, in one run."""

from deepvision.pipelines.study.pipeline import create_pipeline

__all__ = ["create_pipeline"]
