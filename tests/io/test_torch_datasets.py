"""Torch-file datasets: versioned round trips, and a file that would run code is refused."""

import pytest
import torch
from kedro.io import DatasetError, Version

from deepvision.io import ImageSetDataset, ModelDataset
from tests.synthetic import tiny_model, tiny_splits


def test_an_imageset_round_trips_with_its_statistics(tmp_path):
    train, _, _ = tiny_splits()
    dataset = ImageSetDataset(filepath=str(tmp_path / "train.pt"))
    assert not dataset.exists()
    dataset.save(train)
    loaded = dataset.load()
    assert dataset.exists()
    assert torch.equal(loaded.images, train.images) and torch.equal(loaded.labels, train.labels)
    assert (loaded.class_names, loaded.mean, loaded.std) == (train.class_names, train.mean,
                                                             train.std)


def test_a_model_is_rebuilt_from_its_registry_name_with_weights_and_meta(tmp_path):
    train, _, _ = tiny_splits()
    model = tiny_model(train)
    dataset = ModelDataset(filepath=str(tmp_path / "model.pt"), version=Version(None, None))
    dataset.save(model)
    loaded = dataset.load()
    assert loaded.spec == model.spec and loaded.meta == model.meta
    x = train.images[:4].float() / 255
    assert torch.equal(loaded.eval()(x), model.eval()(x))
    assert len(list((tmp_path / "model.pt").iterdir())) == 1  # one timestamped version


def test_versions_are_never_overwritten(tmp_path):
    train, _, _ = tiny_splits()
    for version in ("2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"):
        ImageSetDataset(filepath=str(tmp_path / "s.pt"), version=Version(None, version)).save(train)
    with pytest.raises(DatasetError, match="must not exist if versioning is enabled"):
        ImageSetDataset(filepath=str(tmp_path / "s.pt"),
                        version=Version(None, "2026-01-02T00.00.00.000Z")).save(train)


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_file_that_would_run_code_on_load_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"spec": _RunsCode()}, path)
    with pytest.raises(DatasetError, match="Weights only load failed"):
        ModelDataset(filepath=str(path)).load()
    assert "must never run" not in capsys.readouterr().out
