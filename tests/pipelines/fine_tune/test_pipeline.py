import torch

from deepvision.models import create_model
from deepvision.models.bundle import save_checkpoint_bundle
from deepvision.pipelines.fine_tune import create_pipeline
from tests.pipelines.runner import run
from tests.synthetic import tiny_params, tiny_splits


def test_fine_tune_compares_three_variants_on_the_same_labels(tmp_path):
    torch.manual_seed(0)
    backbone = tmp_path / "backbone.pt"
    save_checkpoint_bundle(create_model("resnet20", 4, 1), backbone)
    train, val, test = tiny_splits()
    params = tiny_params()
    out = run(create_pipeline(), {
        "train_split": train, "val_split": val, "test_split": test,
        "params:fine_tune": {"backbone": f"checkpoint:{backbone}", "input_size": None,
                             "label_fraction": 0.5, "train": {"epochs": 1}},
        "params:train": params["train"], "params:augment": {}, "params:model": {"name": "lenet5"}})
    table = out["fine_tune_comparison"]
    assert list(table["variant"]) == ["scratch", "linear_probe", "fine_tune"]
    assert (table["labelled_images"] == len(out["labelled_train_split"])).all()
    assert len(out["labelled_train_split"]) < len(train)
    probe = table.set_index("variant").loc["linear_probe", "trainable_parameters"]
    assert probe == 64 * 3 + 3  # only the new head: resnet20's 64 features → 3 classes
    assert "fine_tune.test_accuracy" in out["fine_tune_metrics"]
    # 1 epoch at label_fraction 0.5 is 2 passes; the last one is always validated.
    assert out["fine_tune_curves"]["scratch.val_accuracy"][-1]["step"] == 2


def test_stage_probe_mode_reports_every_stage_and_keeps_the_best(tmp_path):
    torch.manual_seed(0)
    backbone = tmp_path / "backbone.pt"
    save_checkpoint_bundle(create_model("resnet20", 4, 1), backbone)
    train, val, test = tiny_splits()
    out = run(create_pipeline(), {
        "train_split": train, "val_split": val, "test_split": test,
        "params:fine_tune": {"backbone": f"checkpoint:{backbone}", "input_size": None,
                             "mode": "stage_probe", "train": {"epochs": 1}},
        "params:train": tiny_params()["train"], "params:augment": {},
        "params:model": {"name": "lenet5"}})
    stages = out["fine_tune_stage_probes"]
    assert list(stages["stage"]) == [1, 2, 3] and list(stages["features"]) == [16, 32, 64]
    assert stages["best"].sum() == 1
    best = stages[stages["best"]].iloc[0]
    model = out["fine_tune_fine_tune_model"]
    assert model.head.in_features == best["features"]
    row = out["fine_tune_comparison"].set_index("variant").loc["fine_tune"]
    assert row["trainable_parameters"] == best["features"] * 3 + 3
    assert out["fine_tune_stage_plot"].axes[0].get_ylabel() == "validation accuracy"
