"""``ImageSet``: a labelled set of images held as one uint8 tensor, the unit every stage passes
on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class ImageSet:
    """uint8 images N×C×H×W, int64 labels N, class names, and (after ``prepare``) the train split's
    per-channel normalisation statistics in [0, 1] units."""

    images: Tensor
    labels: Tensor
    class_names: tuple[str, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be a uint8 N×C×H×W tensor, got {self.images.dtype} "
                             f"with shape {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"{self.images.shape[0]} images but labels of shape "
                             f"{tuple(self.labels.shape)}")
        object.__setattr__(self, "labels", self.labels.long())
        object.__setattr__(self, "class_names", tuple(self.class_names))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    def subset(self, index: Tensor) -> ImageSet:
        """The images at ``index`` (a LongTensor of positions), statistics kept."""
        return replace(self, images=self.images[index], labels=self.labels[index])

    def empty(self) -> ImageSet:
        """No images, same classes and shape: stands for "no official test split"."""
        return self.subset(torch.zeros(0, dtype=torch.long))

    def with_stats(self, mean: tuple[float, ...], std: tuple[float, ...]) -> ImageSet:
        return replace(self, mean=tuple(mean), std=tuple(std))

    def model_meta(self, mean: tuple[float, ...] | None = None,
                   std: tuple[float, ...] | None = None) -> dict[str, Any]:
        """What a model trained on this set needs to label new images (its bundle's ``meta``):
        class names, the input normalisation (this set's statistics unless given), size and
        resize rule (``deepvision.serving.Preprocessing`` reads it back)."""
        from deepvision.serving.preprocess import preprocessing_meta  # serving imports data

        return preprocessing_meta(self.class_names, self.image_size, mean or self.mean,
                                  std or self.std)

    def class_counts(self) -> dict[str, int]:
        counts = torch.bincount(self.labels, minlength=self.num_classes).tolist()
        return dict(zip(self.class_names, counts, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """Only tensors, lists, strings and floats: loadable with
        ``torch.load(weights_only=True)``."""
        return {"images": self.images, "labels": self.labels, "class_names": list(self.class_names),
                "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageSet:
        return cls(d["images"], d["labels"], tuple(d["class_names"]),
                   None if d.get("mean") is None else tuple(d["mean"]),
                   None if d.get("std") is None else tuple(d["std"]))
