import pytest

from deepvision.pipelines.build import create_pipeline
from deepvision.pipelines.params import parse_model
from tests.pipelines.runner import run
from tests.synthetic import tiny_splits


def test_build_sizes_the_model_to_the_data_and_writes_a_card():
    train, _, _ = tiny_splits()
    out = run(create_pipeline(), {"train_split": train,
                                  "params:model": {"name": "resnet20", "seed": 1}})
    model, card = out["initial_model"], out["model_card"]
    assert model.spec.num_classes == 3 and model.spec.in_channels == 1
    assert model.meta["mean"] == list(train.mean)
    assert card["parameters"] == sum(p.numel() for p in model.parameters())
    assert card["macs_per_image"] > 0 and card["layers"]
    assert out["model_card_mlflow"]["model_parameters"]["value"] == card["parameters"]


def test_same_seed_same_initial_weights():
    train, _, _ = tiny_splits()
    a, b = (run(create_pipeline(), {"train_split": train, "params:model": {"name": "lenet5"}})
            ["initial_model"] for _ in range(2))
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    assert all((x == y).all() for x, y in pairs)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet9000'.*resnet20"):
        parse_model({"name": "resnet9000"})
