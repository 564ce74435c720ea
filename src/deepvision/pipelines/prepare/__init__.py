"""``prepare``: seeded stratified split, leak check, normalisation statistics, augmentation preview."""

from deepvision.pipelines.prepare.pipeline import create_pipeline

__all__ = ["create_pipeline"]
