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


def test_predict_model_reads_the_newest_or_a_named_version_of_trained_model(tmp_path):
    import pytest as _pytest
    from kedro.io import DataCatalog, Version

    from deepvision.hooks import CatalogModelHook
    from deepvision.io import ModelDataset
    from deepvision.serving import load_model
    from tests.synthetic import tiny_model, tiny_splits

    path = str(tmp_path / "trained_model.pt")
    catalog = DataCatalog({"trained_model": ModelDataset(filepath=path,
                                                         version=Version(None, None))})
    CatalogModelHook().after_catalog_created(catalog)
    with _pytest.raises(FileNotFoundError, match="no trained_model yet.*kedro run"):
        load_model("")
    first, second = (tiny_model(tiny_splits()[0], name) for name in ("lenet5", "resnet20"))
    old = "2026-01-01T00.00.00.000Z"
    ModelDataset(filepath=path, version=Version(None, old)).save(first)
    ModelDataset(filepath=path, version=Version(None, "2026-01-02T00.00.00.000Z")).save(second)
    assert load_model("").spec.name == "resnet20"
    assert load_model(old).spec.name == "lenet5"
