"""Readable matplotlib figures for the reports: titled, axes labelled, nothing drawn by hand."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: runs on machines without a display

from matplotlib.figure import Figure  # noqa: E402
from torch import Tensor  # noqa: E402


def image_grid_figure(grid: Tensor, title: str, width_in: float = 8.0) -> Figure:
    """A C×H×W uint8 image grid shown at its own aspect ratio, with a title."""
    img = grid.permute(1, 2, 0).cpu().numpy()
    h, w = img.shape[:2]
    fig = Figure(figsize=(width_in, max(2.0, width_in * h / w + 0.6)), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray", interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
    return fig
