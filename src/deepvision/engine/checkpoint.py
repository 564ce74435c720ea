"""Training checkpoints: written atomically, loaded without unpickling code, refused on mismatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from deepvision.files import save_atomic  # noqa: F401  (re-exported for the loop)

# Keys of the training config that may change between a run and its resumption.
RESUMABLE_KEYS = frozenset({"resume", "progress", "device", "threads", "checkpoint_dir"})


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
