"""Tiny learnable data, a model ready to evaluate and fast parameters, shared by the tests."""

from __future__ import annotations

import torch
from torch import nn

from deepvision.data.imageset import ImageSet
from deepvision.data.split import SplitConfig, stratified_split
from deepvision.models import create_model

CLASSES = ("a", "b", "c")


def quadrant_images(n: int = 60, classes: int = 3, seed: int = 0,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Learnable uint8 1×8×8 images: the class sets which quadrant is bright."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    images = torch.randint(0, 60, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    for c in range(classes):
        r, col = divmod(c, 2)
        images[labels == c, :, r * 4:(r + 1) * 4, col * 4:(col + 1) * 4] += 180
    return images, labels


def tiny_splits() -> tuple[ImageSet, ImageSet, ImageSet]:
    """60 quadrant images of 3 classes split train/val/test with the train split's statistics."""
    images, labels = quadrant_images()
    train, val, test, _ = stratified_split(ImageSet(images, labels, CLASSES),
                                           SplitConfig(val_fraction=0.2, test_fraction=0.2))
    return train, val, test


def tiny_model(train: ImageSet, name: str = "lenet5") -> nn.Module:
    """An untrained model with the ``meta`` the build node attaches."""
    torch.manual_seed(0)
    model = create_model(name, train.num_classes, train.channels).eval()
    model.meta = train.model_meta()
    return model


def tiny_params() -> dict[str, dict]:
    """train / augment / evaluate blocks that run in well under a second on CPU (validating
    every epoch: 12 validation images against 36 training ones would be every other with auto)."""
    return {"train": {"epochs": 2, "batch_size": 12, "lr": 0.05, "device": "cpu", "threads": 1,
                      "checkpoint_dir": None, "progress": "off", "warmup_epochs": 0,
                      "val_every": 1},
            "augment": {},
            "evaluate": {"confident_errors": 4, "throughput_batch_size": 8, "warmup": 0,
                         "repeats": 1, "max_seconds": 0.01}}


def base_params() -> dict[str, dict]:
    """train / augment / model blocks for a fast lenet5 on CPU (the tune tests)."""
    return {"train": {"epochs": 2, "batch_size": 12, "lr": 0.05, "device": "cpu", "threads": 1,
                      "checkpoint_dir": None, "val_every": 1},
            "augment": {}, "model": {"name": "lenet5", "seed": 0}}
