"""Training checkpoints: written atomically, loaded without unpickling code, refused on mismatch,
and owned by one process at a time.

Concurrent writers: a checkpoint ``<run_name>.pt`` is guarded by ``<run_name>.pt.lock`` holding
the owner's host and pid, created exclusively when training starts and removed when it ends. A
second training of the same ``train.run_name`` is refused while the owner lives; a lock left by
a crashed process (its pid gone on this host) is taken over with a log line. One file per run
name keeps ``train.resume`` simple (resume = the same name), which per-run files would lose.
"""

from __future__ import annotations

import logging
import os
import socket
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from deepvision.files import save_atomic  # noqa: F401  (re-exported for the loop)

log = logging.getLogger(__name__)

# Keys of the training config that may change between a run and its resumption.
RESUMABLE_KEYS = frozenset({"resume", "progress", "device", "threads", "checkpoint_dir"})
# What a training checkpoint written by the loop always holds.
REQUIRED_KEYS = ("config", "epoch", "history", "model", "optimizer")
FIX = "set train.resume=false to start afresh, or delete the file"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message names the file, what is wrong and the fix."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint exists for this run name but was made with a different configuration."""


class CheckpointLockedError(CheckpointError):
    """Another live process is writing the same checkpoint."""


def load(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint on the CPU with ``weights_only=True`` (tensors and plain data
    only). Any problem is one ``CheckpointError`` line: never torch's advice to load with
    ``weights_only=False``, which would run whatever code the file carries."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; set train.resume=false to "
                              "start afresh, or train.run_name to the name of an existing one")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes; an interrupted copy?); "
                              f"{FIX}")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        raise CheckpointError(f"checkpoint {path} cannot be read: it is truncated or not a "
                              f"torch file; {FIX}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - every failure becomes the same kind of line
        raise CheckpointError(f"checkpoint {path} cannot be read: {_what_is_wrong(e)}; "
                              f"{FIX}") from None
    missing = [k for k in REQUIRED_KEYS if not isinstance(saved, dict) or k not in saved]
    if missing:
        raise CheckpointError(f"checkpoint {path} is not a deepvision training checkpoint "
                              f"(no {', '.join(missing)}); {FIX}")
    return saved


def _what_is_wrong(error: Exception) -> str:
    if "Weights only load failed" in str(error) or "Unsupported global" in str(error):
        return ("it holds Python objects besides tensors, which could run code when loaded, so "
                "it is refused (not written by this project)")
    return f"it is truncated or not a torch file ({type(error).__name__})"


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable ``key: saved → current`` lines for every setting that differs."""
    keys = sorted((set(saved) | set(current)) - RESUMABLE_KEYS)
    return [f"{k}: {saved.get(k)!r} → {current.get(k)!r}" for k in keys
            if saved.get(k) != current.get(k)]


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Own ``path`` (a checkpoint) for the block through ``<path>.lock``; see the module doc."""
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = f"{socket.gethostname()} {os.getpid()}"
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _stale(lock):
                raise CheckpointLockedError(
                    f"checkpoint {path} is being written by another training (process "
                    f"{_owner(lock)}, lock {lock}); wait for it, or choose another "
                    "train.run_name") from None
            log.warning("Removing the stale lock %s (process %s is gone).", lock, _owner(lock))
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    try:
        yield
    finally:
        if _owner(lock) == me:
            lock.unlink(missing_ok=True)


def _owner(lock: Path) -> str:
    try:
        return lock.read_text().strip()
    except OSError:
        return "?"


def _stale(lock: Path) -> bool:
    """A lock whose process is gone on this host (a lock from another host is never stale)."""
    host, _, pid = _owner(lock).rpartition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return not host  # an unreadable or empty lock: a crash while writing it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
