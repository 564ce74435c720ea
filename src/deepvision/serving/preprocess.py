"""The preprocessing a model was trained with, read from its bundle, applied to any image.

``build`` and ``fine_tune`` store it in the bundle's ``meta`` (``preprocessing_meta``): class
names, image size, normalisation statistics and the resize rule; the channel count is the
architecture's ``in_channels``. An image of another size is resized like ingest resizes (PIL
bilinear to the training size, aspect ratio not kept); a colour image given to a greyscale model
becomes PIL's "L" (ITU-R 601-2 luma), a grey image given to a colour model is repeated on 3
channels, as ingest does for a mixed folder. Each conversion is counted in ``notes``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

RESIZE_RULES = ("bilinear",)  # PIL bilinear to the training size, aspect ratio not kept
REQUIRED_META = ("class_names", "image_size", "mean", "std")


def preprocessing_meta(class_names: Sequence[str], image_size: Sequence[int],
                       mean: Sequence[float], std: Sequence[float]) -> dict[str, Any]:
    """What a bundle's ``meta`` must hold for ``Preprocessing.from_bundle`` (plain values)."""
    return {"class_names": list(class_names), "image_size": [int(s) for s in image_size],
            "mean": [float(m) for m in mean], "std": [float(s) for s in std],
            "resize": RESIZE_RULES[0]}


@dataclass(frozen=True)
class Preprocessing:
    """How raw uint8 images become model inputs, and what the outputs mean."""

    class_names: tuple[str, ...]
    channels: int
    image_size: tuple[int, int]  # (height, width) in pixels
    mean: tuple[float, ...]  # per channel, [0, 1] units
    std: tuple[float, ...]
    resize: str = "bilinear"

    def __post_init__(self) -> None:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"the model takes {self.channels} channel(s) but its bundle has "
                             f"{len(self.mean)} mean and {len(self.std)} std value(s); the bundle "
                             "does not match its model: rebuild and retrain it")
        if self.resize not in RESIZE_RULES:
            raise ValueError(f"unknown resize rule {self.resize!r} in the model bundle; known: "
                             f"{', '.join(RESIZE_RULES)}")

    @classmethod
    def from_bundle(cls, meta: Mapping[str, Any], in_channels: int,
                    num_classes: int | None = None) -> Preprocessing:
        """From a bundle's ``meta`` and its architecture's ``in_channels`` (``model.spec``)."""
        missing = [k for k in REQUIRED_META if k not in meta]
        if missing:
            raise ValueError(f"the model bundle has no {', '.join(missing)} in its meta; it was "
                             "not written by build/train: retrain it with `kedro run` (or save "
                             "it with meta=preprocessing_meta(...))")
        names = tuple(str(c) for c in meta["class_names"])
        if num_classes is not None and len(names) != num_classes:
            raise ValueError(f"the model has {num_classes} outputs but its bundle names "
                             f"{len(names)} classes; the bundle's meta does not belong to it")
        size = tuple(int(s) for s in meta["image_size"])
        return cls(names, int(in_channels), (size[0], size[1]), tuple(meta["mean"]),
                   tuple(meta["std"]), str(meta.get("resize", RESIZE_RULES[0])))

    @classmethod
    def of_model(cls, model: torch.nn.Module) -> Preprocessing:
        """From a model loaded from a bundle (``model.spec`` and ``model.meta``)."""
        spec, meta = getattr(model, "spec", None), getattr(model, "meta", None)
        if spec is None or meta is None:
            raise ValueError(f"{type(model).__name__} carries no .spec/.meta; load it from a "
                             "model bundle (ModelDataset, load_model_bundle) to predict with it")
        return cls.from_bundle(meta, spec.in_channels, spec.num_classes)

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 N×C×H×W → float (x / 255 − mean) / std, exactly as training evaluated."""
        from deepvision.data.transforms import normalize

        return normalize(images, self.mean, self.std)

    def prepare(self, array: np.ndarray, notes: Counter[str] | None = None) -> Tensor:
        """One uint8 image (H×W, H×W×1 or H×W×3) → C×H×W uint8 at the training size."""
        if array.dtype != np.uint8 or array.ndim not in (2, 3) or (
                array.ndim == 3 and array.shape[2] not in (1, 3)):
            raise ValueError(f"an image must be a uint8 H×W or H×W×(1|3) array, got {array.dtype} "
                             f"{tuple(array.shape)}; decode files with decode_image first")
        array = array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array
        height, width = self.image_size
        if array.shape[:2] != (height, width):
            _note(notes, resize_note((array.shape[0], array.shape[1]), self.image_size))
            array = np.asarray(Image.fromarray(array).resize((width, height),
                                                             Image.Resampling.BILINEAR))
        if self.channels == 1 and array.ndim == 3:
            _note(notes, "colour converted to grey (ITU-R 601-2 luma)")
            array = np.asarray(Image.fromarray(array).convert("L"))
        tensor = torch.from_numpy(np.array(array, copy=True))  # PIL arrays are read-only
        if tensor.ndim == 2:
            tensor = tensor.unsqueeze(-1)
        if self.channels == 3 and tensor.shape[-1] == 1:
            _note(notes, "grey repeated on 3 channels")
            tensor = tensor.expand(height, width, 3)
        return tensor.permute(2, 0, 1).contiguous()

    def stack(self, arrays: Sequence[np.ndarray], notes: Counter[str] | None = None) -> Tensor:
        """Several images → one uint8 N×C×H×W batch."""
        if not arrays:
            return torch.zeros((0, self.channels, *self.image_size), dtype=torch.uint8)
        return torch.stack([self.prepare(a, notes) for a in arrays])


def resize_note(original: tuple[int, int], size: tuple[int, int]) -> str:
    """The report's words for a resize from ``original`` to ``size`` (both height, width)."""
    return (f"resized {original[1]}x{original[0]} → {size[1]}x{size[0]} "
            "(bilinear, aspect ratio not kept)")


def _note(notes: Counter[str] | None, text: str) -> None:
    if notes is not None:
        notes[text] += 1
