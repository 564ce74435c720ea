"""Kedro datasets of our own, where kedro-datasets has none: torch files loaded weights-only."""

from deepvision.io.torch_datasets import ImageSetDataset, ModelDataset

__all__ = ["ImageSetDataset", "ModelDataset"]
