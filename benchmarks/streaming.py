"""Resident vs streamed training data: peak memory and speed of one epoch on generated 64×64 images.

Each measurement runs in a fresh process (peak RSS is per process): the training process, plus its
DataLoader worker when streaming. A tiny conv net keeps the epoch short, so the data path is what
is measured. ``mmap`` reads the same shards through ``np.load(mmap_mode="r")`` instead of
``pread`` (the alternative the shard reader was chosen against).

    python -m benchmarks.streaming            # the table; make bench runs it as suite "streaming"
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepvision.data.shards import ShardBatches, ShardSet, ShardWriter
from deepvision.data.transforms import AugmentConfig, build_augment
from deepvision.engine import TrainConfig, TrainHooks, fit

SIZE = 64            # px
CLASSES = 10
BATCH = 256
CHUNK = 10_000       # images generated (and written) at a time
MEAN, STD = (0.5, 0.5, 0.5), (0.29, 0.29, 0.29)


def generate(n: int, seed: int = 0):
    """``n`` random 3×64×64 uint8 images and labels, ``CHUNK`` at a time."""
    g = torch.Generator().manual_seed(seed)
    for start in range(0, n, CHUNK):
        k = min(CHUNK, n - start)
        yield (torch.randint(0, 256, (k, 3, SIZE, SIZE), generator=g, dtype=torch.uint8),
               torch.randint(0, CLASSES, (k,), generator=g))


@dataclass(frozen=True, eq=False)
class MmapShards(ShardSet):
    """The same shards, read through a memory map (the alternative to ``pread``)."""

    def read(self, shard: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = np.load(self.folder / f"images-{shard:05d}.npy", mmap_mode="r")
        labels = np.load(self.folder / f"labels-{shard:05d}.npy", mmap_mode="r")
        return np.ascontiguousarray(images[rows]), np.asarray(labels[rows])


class PeakMemory:
    """Samples the proportional set size (PSS: shared pages split among their users, so a forked
    worker does not count the parent's libraries twice) of this process plus its children."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, every_s: float) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(_pss(pid) for pid in _tree(os.getpid())))
            time.sleep(every_s)


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            pids += [p for c in task.read_text().split() for p in _tree(int(c))]
    return pids


def _pss(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next(int(line.split()[1]) * 1024 for line in text.splitlines()
                if line.startswith("Pss:"))


def one_epoch(mode: str, n: int, folder: str) -> dict:
    """Train one epoch in this process: peak memory (PSS, with its workers) and images/s."""
    with PeakMemory() as memory:
        images_per_s = _train(mode, n, folder)
    return {"peak_mb": memory.peak / 2**20, "images_per_s": images_per_s}


def _train(mode: str, n: int, folder: str) -> float:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(16, CLASSES))
    if mode == "resident":
        images = torch.empty((n, 3, SIZE, SIZE), dtype=torch.uint8)
        labels = torch.empty(n, dtype=torch.long)
        start = 0
        for x, y in generate(n):
            images[start:start + len(x)], labels[start:start + len(x)] = x, y
            start += len(x)
        train = (images, labels)
    else:
        shards = (MmapShards if mode == "mmap" else ShardSet).open(folder)
        train = ShardBatches(shards, workers=1)
    cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=0.05, device="cpu", threads=1,
                      progress="off", checkpoint_dir=None, warmup_epochs=0, channels_last=False)
    policy = build_augment(AugmentConfig(), MEAN, STD, num_classes=CLASSES)
    result = fit(model, train, None, cfg, TrainHooks(train_transform=policy))
    return result.history[-1]["images_per_second"]


def measure(mode: str, n: int, folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.streaming", mode, str(n), str(folder)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_streaming(sizes: tuple[int, ...] = (10_000, 200_000)) -> list[dict]:
    rows = []
    for n in sizes:
        folder = Path(tempfile.mkdtemp(prefix="dv-shards-"))
        try:
            with ShardWriter(folder / "s", [str(c) for c in range(CLASSES)], 8192, MEAN,
                             STD) as writer:
                for x, y in generate(n):
                    writer.add(x.numpy(), y.numpy())
            for mode in ("resident", "streaming", "mmap"):
                r = measure(mode, n, folder / "s")
                rows.append({"images": n, "data_mb": round(n * 3 * SIZE * SIZE / 2**20),
                             "path": mode, "peak_memory_mb": round(r["peak_mb"]),
                             "images_per_s": round(r["images_per_s"])})
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 4:
        print(json.dumps(one_epoch(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
    else:
        for row in bench_streaming():
            print(row)
