"""Every figure renders to PNG and carries its title, axis labels and tick labels (checked on the
figure's text objects, not on pixels)."""

from io import BytesIO

import pytest
import torch
from matplotlib.figure import Figure

from deepvision.evaluation import expected_calibration_error
from deepvision.reporting.plots import (
    confident_errors_figure,
    confusion_matrix_figure,
    image_grid_figure,
    pareto_figure,
    reliability_figure,
)

DIGITS = [str(i) for i in range(10)]


def png(fig: Figure) -> bytes:
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=50)  # low resolution: the test checks text, not pixels
    data = buffer.getvalue()
    assert data.startswith(b"\x89PNG")
    return data


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_image_grid_figure_renders():
    fig = image_grid_figure(torch.zeros(3, 10, 20, dtype=torch.uint8), "preview")
    png(fig)
    assert fig.axes[0].get_title() == "preview"


def test_confusion_matrix_figure_labels_and_counts():
    cm = torch.diag(torch.full((10,), 50)) + torch.eye(10, dtype=torch.long).roll(1, 1) * 3
    fig = confusion_matrix_figure(cm, DIGITS)
    png(fig)
    ax = fig.axes[0]
    assert ax.get_title().startswith("Confusion matrix (530 images, accuracy 94.3%")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    assert [t.get_text() for t in ax.get_xticklabels()] == DIGITS
    assert [t.get_text() for t in ax.get_yticklabels()] == DIGITS
    assert len(ax.texts) == 100
    assert texts(ax).count("50") == 10 and texts(ax).count("3") == 10


def test_confusion_matrix_figure_twenty_long_names_rotates_ticks():
    names = [f"class_name_{i}" for i in range(20)]
    fig = confusion_matrix_figure(torch.ones(20, 20, dtype=torch.long), names)
    png(fig)
    ticks = fig.axes[0].get_xticklabels()
    assert [t.get_text() for t in ticks] == names
    assert ticks[0].get_rotation() == 45


def test_reliability_figure():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(500, 10, generator=g), 1)
    ece, bins = expected_calibration_error(probs, torch.randint(0, 10, (500,), generator=g))
    fig = reliability_figure(bins, ece)
    png(fig)
    top, bottom = fig.axes
    assert top.get_title() == f"Reliability diagram (ECE = {ece:.3f})"
    assert (top.get_ylabel(), bottom.get_xlabel(), bottom.get_ylabel()) == (
        "accuracy", "confidence", "images")
    diagonal = [line for line in top.get_lines() if list(line.get_xdata()) == [0, 1]]
    assert list(diagonal[0].get_ydata()) == [0, 1]
    counts = {f"{b['count']:,}" for b in bins if b["count"]}
    assert counts <= set(texts(bottom))


def test_confident_errors_figure_captions():
    images = torch.randint(0, 256, (10, 1, 8, 8), dtype=torch.uint8)
    true, pred = torch.arange(10), (torch.arange(10) + 1) % 10
    confidence = torch.linspace(0.99, 0.5, 10)
    fig = confident_errors_figure(images, true, pred, confidence, DIGITS)
    png(fig)
    assert fig.get_suptitle() == "Most confident errors"
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:2] == ["0 → 1 (0.99)", "1 → 2 (0.94)"] and len(titles) == 10


def test_confident_errors_figure_long_names_rgb_and_empty():
    names = ["automobile", "truck"]
    fig = confident_errors_figure(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), [0], [1], [0.9],
                                  names)
    png(fig)
    assert fig.axes[0].get_title() == "automobile →\ntruck (0.90)"
    empty = confident_errors_figure(torch.zeros(0, 1, 8, 8, dtype=torch.uint8), [], [], [], names)
    png(empty)
    assert texts(empty.axes[0]) == ["no errors"]
    with pytest.raises(ValueError, match="2 images"):
        confident_errors_figure(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0], [1], [0.9], names)


def test_pareto_figure():
    rows = [{"model": "small", "ms": 0.5, "acc": 0.90}, {"model": "mid", "ms": 2.0, "acc": 0.95},
            {"model": "slow", "ms": 8.0, "acc": 0.93}, {"model": "big", "ms": 20.0, "acc": 0.97}]
    fig = pareto_figure(rows, "ms", "acc", "model", "latency (ms)", "test accuracy")
    png(fig)
    ax = fig.axes[0]
    assert ax.get_title() == "test accuracy vs latency (ms)"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale()) == (
        "latency (ms)", "test accuracy", "log")
    assert sorted(texts(ax)) == ["big", "mid", "slow", "small"]
    front = next(line for line in ax.get_lines() if line.get_label() == "Pareto front")
    assert list(front.get_xdata()) == [0.5, 2.0, 20.0]
    labels = {t.get_text() for t in ax.get_xticklabels() + ax.get_xticklabels(minor=True)}
    assert {"1", "10"} <= labels  # plain numbers, not powers of ten


def test_pareto_figure_linear_x_and_title():
    rows = [{"n": "a", "x": 1, "y": 1}, {"n": "b", "x": 2, "y": 0}]
    fig = pareto_figure(rows, "x", "y", "n", "x", "y", log_x=False, title="custom")
    png(fig)
    assert fig.axes[0].get_xscale() == "linear" and fig.axes[0].get_title() == "custom"
