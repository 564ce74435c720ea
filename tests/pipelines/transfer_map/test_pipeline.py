from pathlib import Path

import pytest
import torch
import yaml

from deepvision.config import ConfigError, to_dict
from deepvision.models import create_model
from deepvision.models.bundle import save_checkpoint_bundle
from deepvision.pipelines.params import parse_transfer_map
from deepvision.pipelines.transfer_map import create_pipeline
from deepvision.pipelines.transfer_map.config import TransferMapConfig
from tests.pipelines.runner import run
from tests.synthetic import tiny_params, tiny_splits

CONF = Path(__file__).parents[3] / "conf" / "base" / "parameters_transfer_map.yml"


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    train, val, test = tiny_splits()
    return run(create_pipeline(), {
        "train_split": train, "val_split": val, "test_split": test,
        "params:transfer_map": {"label_fractions": [0.5, 1.0]},
        "params:fine_tune": {"backbone": _backbone(tmp_path_factory.mktemp("backbone")),
                             "input_size": None,
                             "train": {"epochs": 1}},
        "params:train": tiny_params()["train"], "params:augment": {}})


def test_every_fraction_meets_every_strategy_on_one_step_budget(grid):
    table = grid["transfer_map_table"]
    assert list(zip(table["label_fraction"], table["strategy"], strict=True)) == [
        (f, s) for f in (0.5, 1.0) for s in ("probe", "last_1", "last_half", "all")]
    assert table.groupby("label_fraction")["steps"].nunique().eq(1).all()
    # resnet20 has 3 stages: last half = 2; the probe trains only its head
    assert list(table["trainable_stages"][:4]) == [0, 1, 2, 3]
    params = table.set_index(["label_fraction", "strategy"])["trainable_parameters"]
    assert params[(1.0, "probe")] < params[(1.0, "last_1")] < params[(1.0, "all")]
    assert table["probe_stage"].notna().sum() == 2 and table["test_accuracy"].between(0, 1).all()


def test_the_report_recommends_one_strategy_per_fraction_and_each_cell_is_a_run(grid):
    md = grid["transfer_map_md"]
    assert md.count("of the labels (") == 2 and "## Test accuracy" in md
    assert "| label fraction | stage 1 | stage 2 | stage 3 |" in md
    runs = grid["transfer_map_child_runs"]
    assert set(runs) == {f"{s}@{f}" for f in ("0.5", "1") for s in
                         ("probe", "last_1", "last_half", "all")}
    assert {"stage1.val_accuracy", "stage3.val_accuracy"} <= set(runs["probe@1"]["metrics"])
    cell = runs["last_1@0.5"]
    assert cell["params"]["strategy"] == "last_1" and cell["metrics"]["trainable_stages"] == 1
    assert len(cell["curves"]["train_loss"]) == cell["params"]["train.epochs"]
    assert grid["transfer_map_accuracy_plot"].axes and grid["transfer_map_seconds_plot"].axes


def test_the_yaml_and_the_dataclass_share_their_defaults():
    assert yaml.safe_load(CONF.read_text())["transfer_map"] == to_dict(TransferMapConfig())


def test_a_step_budget_gives_every_cell_about_that_many_steps(tmp_path):
    train, val, test = tiny_splits()
    out = run(create_pipeline(), {
        "train_split": train, "val_split": val, "test_split": test,
        "params:transfer_map": {"label_fractions": [0.5, 1.0], "strategies": ["last_1"],
                                "steps": 7},
        "params:fine_tune": {"backbone": _backbone(tmp_path), "input_size": None, "train": {}},
        "params:train": tiny_params()["train"], "params:augment": {}})
    # 18 and 36 labels in batches of 12: 1 and 3 steps an epoch, so 7 and 9 steps
    assert list(out["transfer_map_table"]["steps"]) == [7, 9]


def _backbone(folder: Path) -> str:
    torch.manual_seed(0)
    save_checkpoint_bundle(create_model("resnet20", 4, 1), folder / "backbone.pt")
    return f"checkpoint:{folder / 'backbone.pt'}"


def test_bad_grids_fail_before_training():
    with pytest.raises(ConfigError, match="transfer_map.strategies='last_2'"):
        parse_transfer_map({"strategies": ["probe", "last_2"]})
    with pytest.raises(ConfigError, match="lists a value twice"):
        parse_transfer_map({"label_fractions": [0.1, 0.1]})
