from deepvision.pipelines.train import create_pipeline
from tests.pipelines.runner import run
from tests.synthetic import tiny_model, tiny_params, tiny_splits


def test_train_pipeline_trains_and_reports_per_epoch_curves():
    train, val, _ = tiny_splits()
    params = tiny_params()
    out = run(create_pipeline(), {"initial_model": tiny_model(train), "train_split": train,
                                  "val_split": val, "params:train": params["train"],
                                  "params:augment": {"crop_padding": 1}})
    model, history = out["trained_model"], out["training_history"]
    assert model.meta["class_names"] == list(train.class_names) and model.spec.name == "lenet5"
    assert [r["epoch"] for r in history["history"]] == [1, 2]
    curves = out["training_curves"]
    assert set(curves) >= {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"}
    assert [p["step"] for p in curves["val_accuracy"]] == [1, 2]
    assert out["training_summary"]["best_epoch"]["value"] == history["best_epoch"]
