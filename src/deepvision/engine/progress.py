"""A per-epoch progress bar on a terminal; nothing (the loop logs one line per epoch) elsewhere."""

from __future__ import annotations

import sys
import time

from torch import Tensor


class Progress:
    """tqdm bar with loss and images/s when ``mode`` is ``bar`` (or ``auto`` on a TTY)."""

    def __init__(self, total: int, desc: str, mode: str = "auto") -> None:
        self.bar = None
        if mode == "bar" or (mode == "auto" and sys.stderr.isatty()):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False, unit="batch")
        self.last = time.perf_counter()

    def update(self, loss: Tensor) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if now - self.last > 0.5:  # reading the loss syncs the device: do it rarely
            self.bar.set_postfix(loss=f"{float(loss):.4f}")
            self.last = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
