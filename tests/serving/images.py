"""Image files for the serving tests: readable ones of the synthetic classes, and each kind of
file ingest refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tests.synthetic import quadrant_images

BAD = {"corrupt.png": "not a readable image", "truncated.jpg": "truncated",
       "notes.txt": "not an image extension", "bomb.png": "decompression bomb"}


def write_images(folder: Path, n: int = 9, bad: bool = True) -> torch.Tensor:
    """``n`` 8×8 grey PNGs (in a subfolder too) plus, with ``bad``, one file of each refused kind
    (the bomb only with max_pixels ≤ 4096). Returns the images in file order."""
    images, _ = quadrant_images(n)
    for i, image in enumerate(images):
        sub = folder / ("more" if i % 2 else "")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0].numpy()).save(sub / f"img{i:03d}.png")
    if bad:
        (folder / "corrupt.png").write_bytes(b"\x89PNG but not really" * 5)
        jpeg = folder / "full.jpg"
        Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(jpeg, quality=90)
        (folder / "truncated.jpg").write_bytes(jpeg.read_bytes()[:300])
        jpeg.unlink()
        (folder / "notes.txt").write_text("not an image")
        Image.new("L", (100, 100)).save(folder / "bomb.png")
    order = sorted(range(n), key=lambda i: (f"more/img{i:03d}.png" if i % 2 else f"img{i:03d}.png"))
    return images[order]
