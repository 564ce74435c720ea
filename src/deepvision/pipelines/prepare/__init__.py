"""``prepare``: seeded stratified split, leak check, normalisation statistics, augment preview."""

from deepvision.pipelines.prepare.pipeline import create_pipeline

__all__ = ["create_pipeline"]
