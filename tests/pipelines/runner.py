"""Run a pipeline with Kedro's SequentialRunner on an in-memory catalog."""

from __future__ import annotations

from typing import Any

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so a test can read intermediate outputs."""

    def __init__(self, data: Any = None) -> None:
        super().__init__(data, copy_mode="assign")

    def _release(self) -> None:
        pass


def run(pipeline: Pipeline, inputs: dict[str, Any]) -> dict[str, Any]:
    """Every input in memory (assigned, not copied); returns every dataset, loaded."""
    catalog = DataCatalog({name: KeptDataset() for name in pipeline.datasets()})
    for name, value in inputs.items():
        catalog[name] = KeptDataset(value)
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in pipeline.outputs() | pipeline.all_outputs()}
