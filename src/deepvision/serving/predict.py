"""Batch prediction: image files, encoded bytes or uint8 arrays → label, probability and top-k.

Files are validated exactly as ingest validates them (``data.sources``: corrupt, truncated,
non-image and decompression-bomb files are skipped with a reason) and streamed in chunks of
``chunk_size`` files, so a folder of 100,000 images never holds more than one chunk decoded.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepvision.data.sources import (
    IMAGE_EXTENSIONS,
    decode_files,
    decode_image,
    list_image_files,
    pil_limits,
)
from deepvision.serving.preprocess import Preprocessing, resize_note

DEFAULT_MAX_PIXELS = 50_000_000  # as ingest.max_image_pixels: larger images are bombs


@dataclass(frozen=True)
class PredictConfig:
    """``predict`` parameters: what to label, with which model, how."""

    input: str = ""  # an image file or a folder (searched recursively)
    model: str = ""  # "" newest trained_model | catalog version | file | runs:/… | models:/…
    top_k: int = 3  # labels and probabilities kept per image (capped at the class count)
    batch_size: int = 256  # images per forward pass
    chunk_size: int = 2048  # files decoded at once (bounds memory on huge folders)
    workers: int = 2  # decoding processes
    max_image_pixels: int = DEFAULT_MAX_PIXELS  # larger images are refused as bombs
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    progress: str = "auto"  # auto (a bar on a terminal) | bar | none

    def __post_init__(self) -> None:
        from deepvision.config import check_choice, check_range

        for key in ("top_k", "batch_size", "chunk_size", "workers", "max_image_pixels"):
            check_range(getattr(self, key), f"predict.{key}", 1)
        check_choice(self.progress, ("auto", "bar", "none"), "predict.progress")


@dataclass
class Labelled:
    """Rows of predictions, the files passed over (with reasons) and counted conversions."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)


class Predictor:
    """A model with its preprocessing: uint8 images in, label / probability / top-k out."""

    def __init__(self, model: nn.Module, preprocessing: Preprocessing | None = None,
                 device: torch.device | str = "cpu", batch_size: int = 256, top_k: int = 3):
        self.pre = preprocessing or Preprocessing.of_model(model)
        self.device = torch.device(device)
        # A copy, so the caller's model is neither moved nor switched to eval mode.
        self.model = _eval_copy(model, self.device)
        self.batch_size, self.top_k = batch_size, min(top_k, len(self.pre.class_names))

    @torch.inference_mode()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 N×C×H×W at the training size → float32 logits N×K on the CPU."""
        if images.shape[1:] != (self.pre.channels, *self.pre.image_size):
            raise ValueError(f"images of shape {tuple(images.shape[1:])}, the model takes "
                             f"{(self.pre.channels, *self.pre.image_size)}; "
                             "use Preprocessing.stack")
        out = [self.model(self.pre.normalize(images[i:i + self.batch_size].to(self.device))
                          .contiguous(memory_format=torch.channels_last)).float().cpu()
               for i in range(0, len(images), self.batch_size)]
        return torch.cat(out) if out else torch.zeros((0, len(self.pre.class_names)))

    def rows(self, images: torch.Tensor) -> list[dict[str, Any]]:
        """One dict per image: label, probability, top_labels, top_probabilities."""
        probs = torch.softmax(self.logits(images), dim=1)
        top_p, top_i = probs.topk(self.top_k, dim=1)
        names = self.pre.class_names
        return [{"label": names[i[0]], "probability": p[0],
                 "top_labels": [names[j] for j in i], "top_probabilities": p}
                for p, i in zip(top_p.tolist(), top_i.tolist(), strict=True)]

    def label_arrays(self, arrays: Sequence[np.ndarray], notes: Counter[str] | None = None
                     ) -> list[dict[str, Any]]:
        """uint8 H×W or H×W×(1|3) arrays of any size → one row each."""
        return self.rows(self.pre.stack(list(arrays), notes))

    def label_encoded(self, blobs: Sequence[bytes], max_pixels: int = DEFAULT_MAX_PIXELS
                      ) -> list[dict[str, Any]]:
        """Encoded image files (PNG, JPEG, …) → one row each; a refused one gets ``error``."""
        with pil_limits(max_pixels):
            decoded = [decode_image(io.BytesIO(b), self.pre.image_size) for b in blobs]
        good = [d.array for d in decoded if d.reason is None]
        found = iter(self.label_arrays(good))
        return [next(found) if d.reason is None else {"error": d.reason} for d in decoded]


def _eval_copy(model: nn.Module, device: torch.device) -> nn.Module:
    import copy

    net = copy.deepcopy(model).to(device).eval()
    return net.to(memory_format=torch.channels_last)


def image_files(target: str | Path) -> tuple[Path, list[Path], list[dict[str, str]]]:
    """``(root, files, skipped)`` for an image file or a folder; a bad target is one clear error."""
    path = Path(target)
    if not str(target):
        raise ValueError("nothing to label: set predict.input to an image file or a folder "
                         '(kedro run --pipelines predict --params "predict.input=<path>")')
    if not path.exists():
        raise FileNotFoundError(f"predict.input {str(path)!r} does not exist; give an image file "
                                "or a folder of images")
    if path.is_file():
        return path.parent, [path], []
    files, skipped = list_image_files(path)
    if not files:
        kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise ValueError(f"no image files ({kinds}) under {path}; point predict.input at a "
                         "folder that holds images")
    return path, files, skipped


def label_files(predictor: Predictor, root: Path, files: Sequence[Path], chunk_size: int = 2048,
                workers: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS,
                on_chunk: Callable[[int], None] | None = None) -> Iterator[Labelled]:
    """Label ``files`` chunk by chunk: each chunk is decoded (validated), predicted and yielded."""
    for start in range(0, len(files), chunk_size):
        chunk = files[start:start + chunk_size]
        decoded = decode_files(list(chunk), predictor.pre.image_size, max_pixels, workers)
        out = Labelled()
        good = [(p, d.array) for p, d in zip(chunk, decoded, strict=True) if d.reason is None]
        out.skipped = [{"path": _rel(p, root), "reason": d.reason}
                       for p, d in zip(chunk, decoded, strict=True) if d.reason is not None]
        out.notes.update(resize_note((h, w), predictor.pre.image_size)  # resized while decoding
                         for d in decoded if d.reason is None
                         for w, h in [d.size] if (h, w) != predictor.pre.image_size)
        rows = predictor.label_arrays([a for _, a in good], out.notes)
        out.rows = [{"file": _rel(p, root), **r} for (p, _), r in zip(good, rows, strict=True)]
        if on_chunk is not None:
            on_chunk(len(chunk))
        yield out


def progress_bar(total: int, mode: str = "auto") -> Callable[[int], None] | None:
    """A tqdm bar in files on a terminal (``mode`` auto) or always (bar); None otherwise."""
    if mode == "none" or (mode == "auto" and not sys.stderr.isatty()):
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="predict", unit="image")
    return bar.update


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
