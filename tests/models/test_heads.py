"""Head replacement and freezing on torchvision and own models."""

import pytest
import torch
import torchvision
from torch import nn

from deepvision.models import create_model, freeze, replace_head, unfreeze
from deepvision.models.heads import find_head


def tv(name: str) -> nn.Module:
    return torchvision.models.get_model(name, weights=None)


@pytest.mark.parametrize(("name", "head"), [("resnet18", "fc"),
                                            ("mobilenet_v3_small", "classifier.3"),
                                            ("squeezenet1_1", "classifier.1")])
def test_replace_head_torchvision(name, head):
    model = replace_head(tv(name), 4)
    found, layer = find_head(model)
    assert found == head
    assert getattr(layer, "out_features", None) == 4 or layer.out_channels == 4
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 4)


def test_replace_head_own_model_keeps_in_features():
    model = create_model("resnet20", 10, 3)
    assert replace_head(model, 3).fc.out_features == 3
    assert model.fc.in_features == 64


def test_freeze_stops_gradients_and_fixes_norm_statistics():
    model = create_model("resnet20", 10, 3).train()
    freeze(model.stem)
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert all(not m.training for m in model.stem.modules() if isinstance(m, nn.BatchNorm2d))
    assert model.stages.training
    before = model.stem[0][1].running_mean.clone()
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    torch.testing.assert_close(model.stem[0][1].running_mean, before)
    assert all(p.grad is None for p in model.stem.parameters())
    assert model.fc.weight.grad is not None


def test_unfreeze_restores_gradients_and_module_mode():
    model = create_model("resnet20", 10, 3).train()
    unfreeze(freeze(model))
    assert all(p.requires_grad for p in model.parameters())
    assert all(m.training for m in model.modules())
