"""Where a catalog dataset has just written its file."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def saved_path(dataset: Any) -> Path:
    """The file a (possibly versioned) dataset has just written. Kedro has no public accessor:
    the versioned path is what ``AbstractVersionedDataset`` computes for its save."""
    if getattr(dataset, "_version", None) is not None:
        return Path(str(dataset._get_versioned_path(dataset.resolve_save_version())))
    return Path(str(dataset._filepath))
