"""Every registered CIFAR model: shapes, gradients, input sizes, channels_last, parameter counts."""

import pytest
import torch
import torch.nn.functional as F

from deepvision.models import count_parameters, create_model, list_models

NUM_CLASSES = 7

# Verified for 10 classes and 3 channels against kuangliu/pytorch-cifar's definitions (resnet18,
# vgg16_bn, densenet121, densenet_cifar, lenet5) and the papers: resnet20 is the paper's 0.27 M
# network with projection shortcuts (269,722 with option-A zero padding + 2,752); preact_resnet18 is
# kuangliu's 11,171,146 plus the paper's final BN (2·512).
PARAMETERS = {
    "resnet18": 11_173_962,
    "resnet20": 272_474,
    "vgg16_bn": 14_728_266,
    "densenet121": 6_956_298,
    "densenet_cifar": 1_000_618,
    "preact_resnet18": 11_172_170,
    "lenet5": 62_006,
}


def test_all_families_are_registered():
    expected = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet20", "resnet32", "resnet44",
                "resnet56", "preact_resnet18", "preact_resnet34", "densenet121", "densenet_cifar",
                "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "lenet5"}
    assert expected <= set(list_models())


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("name", list_models(pretrained=False))
def test_forward_backward(name, in_channels):
    torch.manual_seed(0)
    model = create_model(name, NUM_CLASSES, in_channels)  # built once: init dominates the cost
    for size in [8, 32]:
        model.zero_grad(set_to_none=True)
        logits = model(torch.randn(2, in_channels, size, size))
        assert logits.shape == (2, NUM_CLASSES), size
        F.cross_entropy(logits, torch.tensor([0, 1])).backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]  # frozen: by design
        assert all(g is not None and torch.isfinite(g).all() for g in grads), size


@pytest.mark.parametrize("name", list_models(pretrained=False))
def test_channels_last_matches_contiguous(name):
    # Odd size: ceil-mode and adaptive pools must cope; nothing may .view a channels_last tensor.
    model = create_model(name, NUM_CLASSES, 3).eval()
    x = torch.randn(2, 3, 13, 13)
    with torch.no_grad():
        expected = model(x)
        got = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["lenet5", "resnet20"])
def test_large_input(name):
    model = create_model(name, NUM_CLASSES, 1).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 224, 224)).shape == (1, NUM_CLASSES)


@pytest.mark.parametrize(("name", "expected"), PARAMETERS.items())
def test_parameter_count(name, expected):
    assert count_parameters(create_model(name, 10, 3)) == (expected, expected)
