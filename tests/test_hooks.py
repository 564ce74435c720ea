"""Hooks: the torchrun rank guard keeps ranks > 0 from writing anything."""

from types import SimpleNamespace

from kedro.io import DataCatalog, MemoryDataset

from deepvision.hooks import AllPipelines, TorchrunRankHook
from deepvision.io.memory import MemoryOnSave


def test_ranks_above_zero_write_nothing_and_track_nothing(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    catalog = DataCatalog({"model": MemoryDataset(1), "params:train": MemoryDataset({})})
    context = SimpleNamespace(mlflow=SimpleNamespace(tracking=SimpleNamespace(
        disable_tracking=SimpleNamespace(pipelines=[]))))
    hook = TorchrunRankHook()
    hook.after_context_created(context)
    hook.after_catalog_created(catalog)
    assert "train" in context.mlflow.tracking.disable_tracking.pipelines
    assert isinstance(context.mlflow.tracking.disable_tracking.pipelines, AllPipelines)
    assert isinstance(catalog.get("model"), MemoryOnSave)
    assert isinstance(catalog.get("params:train"), MemoryDataset)


def test_rank_zero_keeps_the_catalog(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    catalog = DataCatalog({"model": MemoryDataset(1)})
    TorchrunRankHook().after_catalog_created(catalog)
    assert isinstance(catalog.get("model"), MemoryDataset)
