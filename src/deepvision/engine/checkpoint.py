"""Training checkpoints: written atomically, loaded without unpickling code, refused on mismatch."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

# Keys of the training config that may change between a run and its resumption.
RESUMABLE_KEYS = frozenset({"resume", "progress", "device", "threads", "checkpoint_dir"})


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temp file in the same folder, then rename: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU with ``weights_only=True``: tensors and plain data only."""
    return torch.load(path, map_location="cpu", weights_only=True)


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable ``key: saved → current`` lines for every setting that differs."""
    keys = sorted((set(saved) | set(current)) - RESUMABLE_KEYS)
    return [f"{k}: {saved.get(k)!r} → {current.get(k)!r}" for k in keys
            if saved.get(k) != current.get(k)]


class CheckpointMismatchError(RuntimeError):
    """A checkpoint exists for this run name but was made with a different configuration."""
