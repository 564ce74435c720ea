"""torchvision classifiers under ``tv:``: heads, input channels, errors; always weights=None."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepvision.models import create_model
from deepvision.models.torchvision_models import adapt_input_channels


def test_resnet18_one_channel():
    model = create_model("tv:resnet18", 5, 1).eval()
    assert model.conv1.in_channels == 1 and model.conv1.stride == (2, 2)
    assert model.fc.out_features == 5
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 5)


def test_unknown_torchvision_name_lists_names():
    with pytest.raises(ValueError, match="unknown torchvision model 'nope'.*resnet18"):
        create_model("tv:nope", 5)
    with pytest.raises(ValueError, match="Did you mean resnet18"):
        create_model("tv:resnet-18", 5)


def test_mobilenet_trains_with_three_channels():
    model = create_model("tv:mobilenet_v3_small", 7, 3)
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 7)
    F.cross_entropy(logits, torch.tensor([0, 6])).backward()
    assert model.classifier[-1].weight.grad is not None


def test_googlenet_returns_plain_logits_when_training():
    model = create_model("tv:googlenet", 3, 1)
    assert isinstance(model(torch.randn(2, 1, 32, 32)), torch.Tensor)


def test_adapt_input_channels_derives_weights():
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    model = adapt_input_channels(nn.Sequential(conv, nn.ReLU()), 1)
    new = model[0]
    assert (new.in_channels, new.stride, new.padding) == (1, (2, 2), (1, 1))
    torch.testing.assert_close(new.weight, conv.weight.sum(dim=1, keepdim=True))
    torch.testing.assert_close(new.bias, conv.bias)
    five = adapt_input_channels(nn.Sequential(nn.Conv2d(3, 4, 3)), 5)
    assert five[0].weight.shape == (4, 5, 3, 3)
