"""Readable matplotlib figures for the reports: titled, axes labelled, nothing drawn by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: runs on machines without a display

import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import Formatter  # noqa: E402
from torch import Tensor  # noqa: E402

from deepvision.reporting.tables import pareto_front  # noqa: E402


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


def confusion_matrix_figure(confusion: Tensor, class_names: Sequence[str],
                            title: str = "Confusion matrix") -> Figure:
    """K×K counts (rows true, columns predicted) as a heat map with the count in every cell."""
    cm = torch.as_tensor(confusion).cpu().numpy()
    k = len(class_names)
    side = min(14.0, max(5.0, 0.5 * k + 2.0))  # inches: ≈0.5 in per cell keeps 20 classes legible
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="images")
    long_names = max((len(str(n)) for n in class_names), default=0) > 3
    ax.set_xticks(range(k), labels=class_names, rotation=45 if long_names else 0,
                  ha="right" if long_names else "center", rotation_mode="anchor")
    ax.set_yticks(range(k), labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = int(cm.sum())
    accuracy = cm.trace() / total if total else 0.0
    ax.set_title(f"{title} ({total:,} images, accuracy {accuracy:.1%})")
    fontsize = _cell_fontsize(side, k, len(str(int(cm.max(initial=0)))))
    dark = cm.max(initial=0) / 2
    for (i, j), count in np.ndenumerate(cm):
        color = "white" if count > dark else ("0.65" if count == 0 else "black")
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=fontsize)
    return fig


def _cell_fontsize(side_in: float, k: int, digits: int) -> float:
    # A digit is ≈0.6 em wide; fill at most ~70 % of a cell, and stay within 6–11 pt.
    cell_pt = 72 * 0.75 * side_in / max(k, 1)
    return float(np.clip(0.7 * cell_pt / (0.6 * max(digits, 2)), 6, 11))


def reliability_figure(bins: Sequence[dict[str, float]], ece: float,
                       title: str = "Reliability diagram") -> Figure:
    """Accuracy per confidence bin against the diagonal of perfect calibration, over the number
    of images per bin (bins as returned by ``expected_calibration_error``)."""
    fig = Figure(figsize=(6.5, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.2])
    full = [b for b in bins if b["count"] > 0]
    centers = [(b["lower"] + b["upper"]) / 2 for b in full]
    widths = [b["upper"] - b["lower"] for b in full]
    accuracy = [b["accuracy"] for b in full]
    gap = [b["confidence"] - b["accuracy"] for b in full]
    top.bar(centers, accuracy, widths, color="C0", edgecolor="white", label="accuracy")
    top.bar(centers, gap, widths, bottom=accuracy, color="C3", alpha=0.35, edgecolor="C3",
            label="gap to mean confidence")
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=f"{title} (ECE = {ece:.3f})")
    top.legend(loc="upper left")
    counts = [b["count"] for b in full]
    bars = bottom.bar(centers, counts, widths, color="0.55", edgecolor="white")
    bottom.bar_label(bars, labels=[f"{c:,}" for c in counts], fontsize=7, padding=1)
    if counts and max(counts) > 100 * min(counts):
        bottom.set_yscale("log")  # the top bin often holds most images; log keeps the rest visible
    bottom.margins(y=0.25)
    bottom.set(xlabel="confidence", ylabel="images")
    return fig


def confident_errors_figure(images: Tensor, true: Sequence[int], pred: Sequence[int],
                            confidence: Sequence[float], class_names: Sequence[str],
                            title: str = "Most confident errors", ncols: int = 8) -> Figure:
    """uint8 N×C×H×W images in a grid, each captioned "true → predicted (probability)"."""
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    captions = [_caption(class_names[t], class_names[p], c)
                for t, p, c in zip(_ints(true), _ints(pred), _floats(confidence), strict=True)]
    if len(captions) != n:
        raise ValueError(f"{n} images but {len(captions)} labels, predictions and confidences")
    longest = max((len(line) for c in captions for line in c.split("\n")), default=0)
    panel = max(1.6, 0.075 * longest + 0.2)  # inches: a 9 pt character is ≈0.07 in wide
    lines = 1 + max((c.count("\n") for c in captions), default=0)
    fig = Figure(figsize=(panel * ncols + 0.4, (panel + 0.2 * lines + 0.15) * nrows + 0.5),
                 layout="constrained")
    fig.suptitle(title)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    if n == 0:
        axes[0].text(0.5, 0.5, "no errors", ha="center", va="center")
    for ax, img, caption in zip(axes, images, captions):  # noqa: B905 (spare axes stay blank)
        hwc = torch.as_tensor(img).permute(1, 2, 0).cpu().numpy()
        ax.imshow(hwc[..., 0] if hwc.shape[2] == 1 else hwc, cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(caption, fontsize=9)
    return fig


def _caption(true: str, pred: str, confidence: float) -> str:
    caption = f"{true} → {pred} ({confidence:.2f})"
    # Long class names: break after the arrow rather than spill into the next panel.
    return caption if len(caption) <= 18 else caption.replace("→ ", "→\n", 1)


def pareto_figure(rows: Sequence[dict[str, Any]], x_key: str, y_key: str, label_key: str,
                  x_label: str, y_label: str, log_x: bool = True,
                  title: str | None = None) -> Figure:
    """Labelled scatter of ``y`` against ``x`` with the Pareto front (low x, high y) joined."""
    front = pareto_front(rows, x_key, y_key)
    xs = [float(r[x_key]) for r in rows]
    ys = [float(r[y_key]) for r in rows]
    fig = Figure(figsize=(7.5, 5), layout="constrained")
    ax = fig.add_subplot()
    dominated = [i for i, on in enumerate(front) if not on]
    ax.scatter([xs[i] for i in dominated], [ys[i] for i in dominated], color="0.6",
               label="dominated", zorder=2)
    best = sorted((i for i, on in enumerate(front) if on), key=lambda i: xs[i])
    ax.plot([xs[i] for i in best], [ys[i] for i in best], "o-", color="C0",
            label="Pareto front", zorder=3)
    if log_x and xs and min(xs) > 0:
        ax.set_xscale("log")
        # Plain numbers (0.2, 0.5, 1, 2, 5) read better than powers of ten; minor ticks get
        # labels only while the axis spans at most three decades, so they never crowd.
        ax.xaxis.set_major_formatter(_PlainLogFormatter(minor=False))
        ax.xaxis.set_minor_formatter(_PlainLogFormatter(minor=True))
    ax.margins(x=0.08, y=0.1)
    for x, y, row, on_front in zip(xs, ys, rows, front, strict=True):
        ax.annotate(str(row[label_key]), (x, y), textcoords="offset points", fontsize=8,
                    **_label_placement(_axes_fraction(ax, x), on_front))
    ax.set(xlabel=x_label, ylabel=y_label, title=title or f"{y_label} vs {x_label}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def compression_figure(rows: Sequence[dict[str, Any]], target: float = 0.9) -> Figure:
    """Test accuracy against the challenge score per compression stage: the Pareto front, the
    ``target`` accuracy line and the uncompressed model (the first row) marked."""
    fig = pareto_figure(rows, "challenge_score", "test_accuracy", "stage",
                        "challenge score (lower is better)", "test accuracy",
                        title="Compression: accuracy vs challenge score")
    ax = fig.axes[0]
    ax.axhline(target, color="C3", linestyle="--", linewidth=1, label=f"{target:.0%} target")
    if rows:
        ax.scatter([rows[0]["challenge_score"]], [rows[0]["test_accuracy"]], marker="*", s=220,
                   color="C1", zorder=4, label="uncompressed")
    ax.legend(loc="lower right")
    return fig


class _PlainLogFormatter(Formatter):
    """Log-axis tick labels as plain numbers; minor ticks labelled more sparsely the more decades
    the axis spans (none beyond three), so labels never crowd yet a narrow axis still has some."""

    def __init__(self, minor: bool) -> None:
        self.minor = minor

    def __call__(self, x: float, pos: int | None = None) -> str:
        if x <= 0:
            return ""
        if self.minor:
            lo, hi = sorted(self.axis.get_view_interval())
            decades = math.log10(hi / lo) if lo > 0 else math.inf
            mantissa = round(x / 10 ** math.floor(math.log10(x) + 1e-9))
            shown = {2, 5} if decades > 1 else {2, 3, 5} if decades > 0.4 else set(range(2, 10))
            if decades > 3 or mantissa not in shown:
                return ""
        return f"{x:g}"


def _label_placement(fraction: float, on_front: bool) -> dict[str, Any]:
    # The front rises to the right, so its labels go above-left of the point (below-right at the
    # left edge) and stay off the line; dominated points lie below-right of it, labelled to their
    # right (to their left at the right edge), so no label runs off the axes.
    if on_front:
        return ({"xytext": (6, -4), "ha": "left", "va": "top"} if fraction < 0.2 else
                {"xytext": (-6, 4), "ha": "right", "va": "bottom"})
    return ({"xytext": (-6, 4), "ha": "right", "va": "bottom"} if fraction > 0.8 else
            {"xytext": (6, 4), "ha": "left", "va": "bottom"})


def _axes_fraction(ax: Any, x: float) -> float:
    lo, hi = ax.get_xlim()
    if ax.get_xscale() == "log":
        x, lo, hi = math.log(x), math.log(lo), math.log(hi)
    return (x - lo) / (hi - lo) if hi > lo else 0.5


def _ints(values: Sequence[int] | Tensor) -> list[int]:
    return [int(v) for v in values]


def _floats(values: Sequence[float] | Tensor) -> list[float]:
    return [float(v) for v in values]


def stage_accuracy_figure(rows: Sequence[dict[str, Any]],
                          title: str = "Linear probe accuracy by stage") -> Figure:
    """Validation accuracy of a linear probe on each stage's pooled features (rows as returned
    by ``StageProbes.rows``), the best stage marked; a note when there are no rows."""
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    if not rows:
        ax.axis("off")
        ax.text(0.5, 0.5, "no stage probes: run with fine_tune.mode: stage_probe",
                ha="center", va="center")
        return fig
    stages = [int(r["stage"]) for r in rows]
    accuracy = [float(r["val_accuracy"]) for r in rows]
    ax.plot(stages, accuracy, "o-", color="C0", zorder=3)
    best = [r for r in rows if r.get("best")]
    ax.scatter([int(r["stage"]) for r in best], [float(r["val_accuracy"]) for r in best],
               s=160, facecolors="none", edgecolors="C3", linewidths=2, label="best", zorder=4)
    ax.set_xticks(stages, labels=[f"{r['stage']}\n{r['module'].split('.', 1)[-1]}\n"
                                  f"{r['features']} ch" for r in rows], fontsize=8)
    ax.set(xlabel="stage (module, feature width)", ylabel="validation accuracy", title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def heatmap_figure(values: Sequence[Sequence[float]], row_labels: Sequence[str],
                   col_labels: Sequence[str], title: str, value_label: str,
                   fmt: str = "{:.3f}", x_label: str = "", y_label: str = "") -> Figure:
    """A rows × columns grid of numbers as a heat map, the number written in every cell."""
    grid = np.asarray(values, dtype=float)
    fig = Figure(figsize=(1.6 * len(col_labels) + 2.5, 0.8 * len(row_labels) + 1.8),
                 layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label=value_label)
    ax.set_xticks(range(len(col_labels)), labels=col_labels)
    ax.set_yticks(range(len(row_labels)), labels=row_labels)
    middle = np.nanmean(grid) if np.isfinite(grid).any() else 0.0
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, fmt.format(v), ha="center", va="center",
                color="black" if v > middle else "white")
    ax.set(title=title, xlabel=x_label, ylabel=y_label)
    return fig
