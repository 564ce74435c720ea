"""``evaluate``: the trained model on the held-out test split."""

from deepvision.pipelines.evaluate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
