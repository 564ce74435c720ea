import dataclasses
from functools import partial
from pathlib import Path

import pytest
import torch
import yaml

from deepvision.data.imageset import ImageSet
from deepvision.data.sources import SourceConfig, load_source
from deepvision.data.split import SplitConfig, stratified_split
from deepvision.io.paths import pretrained_backbone
from deepvision.models import pretrained as weight_sources
from deepvision.models.bundle import save_checkpoint_bundle
from deepvision.pipelines import fine_tune, pretrain
from deepvision.ssl import PretrainConfig
from tests.pipelines.runner import run
from tests.synthetic import tiny_params

ROOT = Path(__file__).parents[3]


def _digits() -> tuple[ImageSet, ImageSet, ImageSet]:
    return stratified_split(load_source(SourceConfig()).train, SplitConfig())[:3]


def test_two_epoch_pretrain_on_digits_gives_a_backbone_fine_tune_accepts(tmp_path, monkeypatch):
    train, val, test = _digits()
    params = tiny_params()
    out = run(pretrain.create_pipeline(), {
        "train_split": train, "val_split": val, "params:train": params["train"],
        "params:augment": {}, "params:model": {"name": "resnet20"},
        "params:pretrain": {"projection_dim": 32, "hidden_dim": 64,
                            "train": {"epochs": 2, "batch_size": 256, "lr": 0.3,
                                      "monitor": "val_knn_accuracy"},
                            "augment": {"crop_padding": 1, "color_jitter": 0.4}}})
    curves = out["pretraining_curves"]
    assert [p["step"] for p in curves["val_knn_accuracy"]] == [1, 2]
    assert [p["step"] for p in curves["train_loss"]] == [1, 2]
    backbone = out["pretrained_backbone"]
    assert backbone.meta["input_size"] == 8 and backbone.spec.name == "resnet20"
    # As the catalog saves it (a Kedro version folder), read back as the hook registers it.
    saved = tmp_path / "pretrained_backbone.pt"
    save_checkpoint_bundle(backbone, saved / "2026-01-01T00.00.00.000Z" / saved.name,
                           backbone.meta)
    monkeypatch.setitem(weight_sources._REGISTERED, "pretrained",
                        partial(pretrained_backbone, saved))
    loaded = weight_sources.load_backbone("pretrained:latest")
    assert torch.equal(loaded.model.state_dict()["stem.0.0.weight"],
                       backbone.state_dict()["stem.0.0.weight"])
    table = run(fine_tune.create_pipeline(), {
        "train_split": train, "val_split": val, "test_split": test,
        "params:fine_tune": {"backbone": "pretrained:latest",
                             "input_size": None, "label_fraction": 0.1, "train": {"epochs": 1}},
        "params:train": params["train"], "params:augment": {},
        "params:model": {"name": "lenet5"}})["fine_tune_comparison"]
    assert list(table["variant"]) == ["scratch", "linear_probe", "fine_tune"]
    assert table.set_index("variant").loc["linear_probe", "trainable_parameters"] == 64 * 10 + 10


def test_a_missing_pretrained_version_names_the_saved_ones(tmp_path):
    saved = tmp_path / "pretrained_backbone.pt"
    (saved / "2026-01-01T00.00.00.000Z").mkdir(parents=True)
    (saved / "2026-01-01T00.00.00.000Z" / saved.name).touch()
    with pytest.raises(FileNotFoundError, match="2026-01-01T00.00.00.000Z"):
        pretrained_backbone(saved, "2025-01-01T00.00.00.000Z")


def test_the_yaml_and_the_dataclass_share_their_defaults():
    block = yaml.safe_load((ROOT / "conf/base/parameters_pretrain.yml").read_text())["pretrain"]
    for f in dataclasses.fields(PretrainConfig):
        assert f.name in block, f"pretrain.{f.name} is missing from parameters_pretrain.yml"
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        assert block[f.name] == default, f"pretrain.{f.name}: the YAML and the dataclass differ"
    PretrainConfig(**block)
