"""Where a catalog dataset has just written its file, and reading a saved version back."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def filepath(dataset: Any) -> Path:
    """The (unversioned) file of a catalog dataset, through the torchrun rank guard's
    ``MemoryOnSave`` wrapper. Kedro has no public accessor for it."""
    dataset = getattr(dataset, "inner", dataset)
    return Path(str(dataset._filepath))


def saved_path(dataset: Any) -> Path:
    """The file a (possibly versioned) dataset has just written. Kedro has no public accessor:
    the versioned path is what ``AbstractVersionedDataset`` computes for its save."""
    if getattr(dataset, "_version", None) is not None:
        return Path(str(dataset._get_versioned_path(dataset.resolve_save_version())))
    return filepath(dataset)


def pretrained_backbone(filepath: Path, version: str) -> Any:
    """Version ``version`` (a Kedro version timestamp, or ``latest``) of the versioned bundle
    ``filepath`` (Kedro keeps ``<filepath>/<version>/<file name>``), as a ``Backbone``."""
    from deepvision.models.pretrained import load_backbone

    saved = sorted(p.parent.name for p in filepath.glob(f"*/{filepath.name}"))
    if version == "latest" and saved:
        version = saved[-1]
    path = filepath / version / filepath.name
    if not path.is_file():
        raise FileNotFoundError(
            f"no pretrained backbone {version!r} in {filepath}: run `kedro run --pipelines "
            f"pretrain` first, or choose one of the saved versions: {', '.join(saved) or 'none'}")
    return load_backbone(f"checkpoint:{path}")
