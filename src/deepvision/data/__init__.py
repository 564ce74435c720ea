"""Pure-torch data layer: sources, the ``ImageSet`` container, splits and batched augmentation."""

from deepvision.data.imageset import ImageSet

__all__ = ["ImageSet"]
