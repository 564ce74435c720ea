"""The progress bar: on when asked (or on a terminal), silent otherwise."""

import torch

from deepvision.engine.progress import Progress


def test_off_and_auto_without_a_terminal_draw_nothing(monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    for mode in ("off", "line", "auto"):
        progress = Progress(3, "epoch 1", mode)
        progress.update(torch.tensor(0.5))
        progress.close()
        assert progress.bar is None


def test_bar_counts_batches_and_shows_the_loss():
    progress = Progress(3, "epoch 1", "bar")
    progress.last = 0.0  # the loss is shown at most every 0.5 s: make the first update show it
    for _ in range(2):
        progress.update(torch.tensor(0.25))
    assert progress.bar.n == 2 and progress.bar.total == 3
    assert progress.bar.postfix == "loss=0.2500"
    progress.close()
