from deepvision.pipelines.train import create_pipeline
from tests.pipelines.runner import run
from tests.synthetic import tiny_model, tiny_params, tiny_splits


def test_train_pipeline_trains_and_summarises():
    train, val, _ = tiny_splits()
    params = tiny_params()
    out = run(create_pipeline(), {"initial_model": tiny_model(train), "train_split": train,
                                  "val_split": val, "params:train": params["train"],
                                  "params:augment": {"crop_padding": 1}})
    model, history = out["trained_model"], out["training_history"]
    assert model.meta["class_names"] == list(train.class_names) and model.spec.name == "lenet5"
    assert [r["epoch"] for r in history["history"]] == [1, 2]
    assert out["training_summary"]["best_epoch"]["value"] == history["best_epoch"]
