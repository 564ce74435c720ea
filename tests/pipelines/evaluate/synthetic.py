"""Tiny learnable data, a model ready to evaluate and fast parameters, shared by the evaluate and
study tests."""

from __future__ import annotations

import torch
from torch import nn

from deepvision.data.imageset import ImageSet
from deepvision.data.split import SplitConfig, stratified_split
from deepvision.models import create_model

CLASSES = ("a", "b", "c")


def tiny_splits() -> tuple[ImageSet, ImageSet, ImageSet]:
    """60 uint8 1×8×8 images of 3 classes (the class sets the bright quadrant), split
    train/val/test with the train split's statistics."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    images = torch.randint(0, 60, (60, 1, 8, 8), generator=g, dtype=torch.uint8)
    for c in range(3):
        r, col = divmod(c, 2)
        images[labels == c, :, r * 4:(r + 1) * 4, col * 4:(col + 1) * 4] += 180
    train, val, test, _ = stratified_split(ImageSet(images, labels, CLASSES),
                                           SplitConfig(val_fraction=0.2, test_fraction=0.2))
    return train, val, test


def tiny_model(train: ImageSet, name: str = "lenet5") -> nn.Module:
    """An untrained model with the ``meta`` the build node attaches."""
    torch.manual_seed(0)
    model = create_model(name, train.num_classes, train.channels).eval()
    model.meta = {"class_names": list(train.class_names), "mean": list(train.mean),
                  "std": list(train.std), "image_size": list(train.image_size)}
    return model


def tiny_params() -> dict[str, dict]:
    """train / augment / evaluate blocks that run in well under a second on CPU."""
    return {"train": {"epochs": 2, "batch_size": 12, "lr": 0.05, "device": "cpu", "threads": 1,
                      "checkpoint_dir": None, "progress": "off", "warmup_epochs": 0},
            "augment": {},
            "evaluate": {"confident_errors": 4, "throughput_batch_size": 8, "warmup": 0,
                         "repeats": 1, "max_seconds": 0.01}}
