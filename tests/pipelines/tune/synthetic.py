"""Tiny learnable digits-like data and base parameters shared by the tune and tracking tests."""

from __future__ import annotations

import torch

from deepvision.data.imageset import ImageSet
from deepvision.data.split import SplitConfig, stratified_split


def tiny_splits() -> tuple[ImageSet, ImageSet]:
    """60 uint8 1×8×8 images of 3 classes (the class sets the bright quadrant), split train/val."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    images = torch.randint(0, 60, (60, 1, 8, 8), generator=g, dtype=torch.uint8)
    for c in range(3):
        r, col = divmod(c, 2)
        images[labels == c, :, r * 4:(r + 1) * 4, col * 4:(col + 1) * 4] += 180
    data = ImageSet(images, labels, ("a", "b", "c"))
    train, val, _, _ = stratified_split(data, SplitConfig(val_fraction=0.2, test_fraction=0.2))
    return train, val


def base_params() -> dict[str, dict]:
    """train / augment / model blocks for a fast lenet5 on CPU."""
    return {"train": {"epochs": 2, "batch_size": 12, "lr": 0.05, "device": "cpu", "threads": 1,
                      "checkpoint_dir": None},
            "augment": {}, "model": {"name": "lenet5", "seed": 0}}
