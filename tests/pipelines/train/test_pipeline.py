from deepvision.data.shards import DataConfig, ShardBatches, batch_source
from deepvision.io import ShardsDataset
from deepvision.pipelines.train import create_pipeline
from tests.pipelines.runner import run
from tests.synthetic import tiny_model, tiny_params, tiny_splits


def test_train_pipeline_trains_and_reports_per_epoch_curves():
    train, val, _ = tiny_splits()
    params = tiny_params()
    out = run(create_pipeline(), {"initial_model": tiny_model(train), "train_split": train,
                                  "val_split": val, "params:train": params["train"],
                                  "params:augment": {"crop_padding": 1}, "params:data": {}})
    model, history = out["trained_model"], out["training_history"]
    assert model.meta["class_names"] == list(train.class_names) and model.spec.name == "lenet5"
    assert [r["epoch"] for r in history["history"]] == [1, 2]
    curves = out["training_curves"]
    assert set(curves) >= {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"}
    assert [p["step"] for p in curves["val_accuracy"]] == [1, 2]
    assert out["training_summary"]["best_epoch"]["value"] == history["best_epoch"]


def test_train_pipeline_streams_a_split_stored_as_shards(tmp_path):
    train, val, _ = tiny_splits()
    dataset = ShardsDataset(filepath=str(tmp_path / "train_shards"), shard_size=10)
    dataset.save(train)
    dataset.save(train)  # a second save replaces the shards
    params = tiny_params()
    out = run(create_pipeline(), {"initial_model": tiny_model(train),
                                  "train_split": dataset.load(), "val_split": val,
                                  "params:train": params["train"], "params:augment": {},
                                  "params:data": {"workers": 0}})
    assert [r["epoch"] for r in out["training_history"]["history"]] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_shards"]


def test_auto_streams_an_in_memory_split_above_the_threshold():
    train, _, _ = tiny_splits()
    assert isinstance(batch_source(train, DataConfig()), tuple)
    assert isinstance(batch_source(train, DataConfig(resident_max_gb=1e-9)), ShardBatches)
    assert isinstance(batch_source(train, DataConfig(path="streaming")), ShardBatches)
