"""Nodes of the ``prepare`` pipeline."""

from __future__ import annotations

from typing import Any

import torch
from matplotlib.figure import Figure

from deepvision.data.imageset import ImageSet
from deepvision.data.split import stratified_split
from deepvision.data.transforms import augmentation_preview, build_augment
from deepvision.pipelines.params import parse_augment, parse_split
from deepvision.reporting.plots import image_grid_figure


def split_dataset(raw_images: ImageSet, raw_test_images: ImageSet, split: dict[str, Any],
                  ) -> tuple[ImageSet, ImageSet, ImageSet, dict[str, Any]]:
    """Stratified train/val(/test) split with train-only normalisation statistics."""
    official_test = raw_test_images if len(raw_test_images) else None
    return stratified_split(raw_images, parse_split(split), official_test)


def preview_augmentation(train_split: ImageSet, augment: dict[str, Any]) -> Figure:
    """Originals above augmented versions, so a user sees what the policy does."""
    policy = build_augment(parse_augment(augment), train_split.mean, train_split.std)
    first = train_split.subset(torch.arange(min(8, len(train_split))))  # also from shards
    grid = augmentation_preview(first.images, policy,
                                generator=torch.Generator().manual_seed(0))
    return image_grid_figure(grid, "Augmentation preview: originals (top row) and augmented")
