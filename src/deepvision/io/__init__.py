"""Kedro datasets of our own, where kedro-datasets has none: torch files loaded weights-only.
(MLflow datasets live in ``deepvision.tracking``.)"""

from deepvision.io.shards import ShardsDataset
from deepvision.io.torch_datasets import (
    ImageSetDataset,
    ModelBundlesDataset,
    ModelDataset,
    OnnxModelDataset,
)

__all__ = ["ImageSetDataset", "ModelBundlesDataset", "ModelDataset", "OnnxModelDataset",
           "ShardsDataset"]
