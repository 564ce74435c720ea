"""Kedro datasets of our own, where kedro-datasets has none: torch files loaded weights-only, and
MLflow child runs."""

from deepvision.io.mlflow_runs import MlflowChildRunsDataset
from deepvision.io.torch_datasets import ImageSetDataset, ModelDataset, OnnxModelDataset

__all__ = ["ImageSetDataset", "MlflowChildRunsDataset", "ModelDataset", "OnnxModelDataset"]
