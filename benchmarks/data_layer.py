"""Throughput checks for the data layer (wired into ``make bench`` elsewhere).

Targets on 2 CPU cores: crop + flip + normalise of 32×32×3 uint8 batches of 512 at ≥ 20,000
images/s; ingesting a folder of 60,000 32×32 JPEGs in ≤ 60 s.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepvision.data.sources import SourceConfig, load_source
from deepvision.data.transforms import AugmentConfig, build_augment


def bench_augment(batch_size: int = 512, image_size: int = 32, batches: int = 50,
                  device: str = "cpu", channels_last: bool = False,
                  threads: int | None = None) -> float:
    """Images per second through crop (padding 4) + flip + normalise; ``threads`` sets torch's
    intra-op threads for the measurement only."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _time_augment(batch_size, image_size, batches, torch.device(device), channels_last)
    finally:
        torch.set_num_threads(previous)


def _time_augment(batch_size: int, image_size: int, batches: int, device: torch.device,
                  channels_last: bool) -> float:
    augment = build_augment(AugmentConfig(crop_padding=4, hflip=True), (0.5,) * 3, (0.25,) * 3)
    generator = torch.Generator(device=device).manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 3, image_size, image_size), dtype=torch.uint8,
                           generator=generator, device=device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    for _ in range(3):  # warm-up: allocator and thread pool
        augment(images, labels, generator)
    _sync(device)
    start = time.perf_counter()
    for _ in range(batches):
        augment(images, labels, generator)
    _sync(device)
    return batch_size * batches / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_folder_ingest(n: int = 60_000, classes: int = 10, image_size: int = 32,
                        workers: int = 2) -> float:
    """Seconds ``load_source`` takes on ``n`` random-noise JPEGs in ``classes`` folders (written to
    a temporary directory first, not timed). Noise is the slowest content for JPEG decoding."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_jpegs(root, n, classes, image_size)
        start = time.perf_counter()
        result = load_source(SourceConfig(source="folder", root=str(root), workers=workers))
        seconds = time.perf_counter() - start
    if len(result.train) != n:
        skipped = result.report["skipped"][:3]
        raise RuntimeError(f"ingested {len(result.train)} of {n} images: {skipped}")
    return seconds


def write_jpegs(root: Path, n: int, classes: int, image_size: int, seed: int = 0) -> None:
    """``root/class_<k>/<i>.jpg``: ``n`` distinct random RGB images spread over ``classes``."""
    rng = np.random.default_rng(seed)
    for k in range(classes):
        folder = root / f"class_{k}"
        folder.mkdir(parents=True)
        count = n // classes + (k < n % classes)
        pixels = rng.integers(0, 256, (count, image_size, image_size, 3), dtype=np.uint8)
        for i in range(count):
            Image.fromarray(pixels[i]).save(folder / f"{i:06d}.jpg", quality=90)
