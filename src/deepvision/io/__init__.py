"""Kedro datasets of our own, where kedro-datasets has none: torch files loaded weights-only.
(MLflow datasets live in ``deepvision.tracking``.)"""

from deepvision.io.torch_datasets import ImageSetDataset, ModelDataset, OnnxModelDataset

__all__ = ["ImageSetDataset", "ModelDataset", "OnnxModelDataset"]
