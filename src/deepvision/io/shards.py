"""``ShardsDataset``: a split stored as uint8 shards in a folder (``deepvision.data.shards``); it
saves an ``ImageSet`` and loads a ``ShardSet``, whose images stay on disk until the train loop's
DataLoader workers read them batch by batch."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from deepvision.data.imageset import ImageSet
from deepvision.data.shards import ShardSet, write_shards


class ShardsDataset(AbstractDataset[ImageSet, ShardSet]):
    """A folder of shards. A save writes the new shards beside the old ones and only then swaps
    them in, so an interrupted save leaves the previous split readable."""

    def __init__(self, *, filepath: str, shard_size: int = 8192,
                 metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(filepath)
        self._shard_size = shard_size
        self.metadata = metadata

    def load(self) -> ShardSet:
        return ShardSet.open(self._path)

    def save(self, data: ImageSet) -> None:
        fresh = self._path.with_name(self._path.name + ".writing")
        shutil.rmtree(fresh, ignore_errors=True)
        write_shards(data, fresh, self._shard_size)
        old = self._path.with_name(self._path.name + ".old")
        if self._path.exists():
            self._path.rename(old)
        fresh.rename(self._path)
        shutil.rmtree(old, ignore_errors=True)

    def _exists(self) -> bool:
        return (self._path / "index.json").exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "shard_size": self._shard_size}
