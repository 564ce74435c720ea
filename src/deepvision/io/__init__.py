"""Kedro datasets of our own, where kedro-datasets has none: torch files loaded weights-only, and
MLflow child runs."""

from deepvision.io.mlflow_runs import MlflowChildRunsDataset
from deepvision.io.torch_datasets import ImageSetDataset, ModelBundlesDataset, ModelDataset

__all__ = ["ImageSetDataset", "MlflowChildRunsDataset", "ModelBundlesDataset", "ModelDataset"]
