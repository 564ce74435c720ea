"""``tune``: an Optuna search over ``train.*`` / ``augment.*`` / ``model.*`` values, each trial
the one training loop, tracked as nested MLflow runs; writes the best parameters for ``train``."""

from deepvision.pipelines.tune.pipeline import create_pipeline

__all__ = ["create_pipeline"]
