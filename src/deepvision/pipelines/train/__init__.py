"""``train``: the one training loop on the prepared split, tracked per epoch."""

from deepvision.pipelines.train.pipeline import create_pipeline

__all__ = ["create_pipeline"]
