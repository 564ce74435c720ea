"""Registry: names, helpful errors, specs that rebuild the architecture, no double registration."""

from functools import partial

import pytest
import torch
from torch import nn

from deepvision.models import (
    ModelSpec,
    build_from_spec,
    check_model_name,
    create_model,
    list_models,
    register_model,
    register_models,
    registry,
)
from deepvision.models.registry import ModelConfig


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="unknown model 'resnet1'") as err:
        create_model("resnet1", 10)
    assert all(name in str(err.value) for name in list_models())
    assert "tv:" in str(err.value)


def test_known_names_pass_the_check():
    for name in ["resnet18", "densenet_cifar", "tv:resnet18"]:
        check_model_name(name)


@pytest.mark.parametrize(("name", "kwargs"), [("resnet20", {}), ("densenet_cifar",
                                                                  {"reduction": 0.25})])
def test_spec_rebuilds_identical_architecture(name, kwargs):
    model = create_model(name, 7, 1, **kwargs)
    assert model.spec == ModelSpec(name, 7, 1, kwargs)
    rebuilt = build_from_spec(ModelSpec.from_dict(model.spec.to_dict()))
    assert shapes(rebuilt) == shapes(model)
    assert rebuilt.spec == model.spec


def test_spec_rebuilds_torchvision_model():
    model = create_model("tv:mobilenet_v3_small", 4, 1, dropout=0.0)
    assert shapes(build_from_spec(model.spec)) == shapes(model)


def test_duplicate_registration_raises(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_model
    def toy(num_classes: int, in_channels: int) -> nn.Module:
        return nn.Linear(in_channels, num_classes)

    assert "toy" in list_models()
    assert create_model("toy", 3, 2).out_features == 3
    with pytest.raises(ValueError, match="registered twice"):
        register_model(toy)
    with pytest.raises(ValueError, match="registered twice"):
        register_model(toy, name="resnet18")


def test_variants_are_registered_under_their_keyword_once(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_PRETRAINED", set(registry._PRETRAINED))
    register_models(pretrained=True, toy_a=partial(nn.Linear, 2), toy_b=partial(nn.Linear, 3))
    assert {"toy_a", "toy_b"} <= set(list_models(pretrained=True))
    assert "toy_a" not in list_models(pretrained=False)
    with pytest.raises(ValueError, match="'toy_a' is registered twice"):
        register_models(toy_a=partial(nn.Linear, 4))


def test_model_config_creates_the_same_seeded_model_and_leaves_the_global_rng_alone():
    cfg = ModelConfig(name="lenet5", seed=3)
    torch.manual_seed(0)
    expected_next = torch.rand(1)
    torch.manual_seed(0)
    a, b = cfg.create(10, 1), cfg.create(10, 1)
    assert torch.rand(1) == expected_next
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values(), strict=True))
    other = ModelConfig(name="lenet5", seed=4).create(10, 1)
    assert not torch.equal(other.state_dict()["classifier.0.weight"],
                           a.state_dict()["classifier.0.weight"])
