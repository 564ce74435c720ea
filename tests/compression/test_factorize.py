"""Factorization: exact at full rank, smaller at low rank, rebuilt from its record, bad ranks."""

import pytest
import torch
from torch import nn

from deepvision.compression.factorize import (
    check_factorize,
    choose_ranks,
    factorizable,
    factorize,
    refactor,
)
from deepvision.models import create_model


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("layer", [
    nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=True),
    nn.Conv2d(8, 16, 1),
    nn.Linear(12, 6),
])
def test_full_rank_factors_reproduce_the_layer(layer):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), layer) if not isinstance(layer, nn.Linear) else (
        nn.Sequential(nn.Linear(4, 12), layer))
    full = [min(layer.weight.shape[0], layer.weight[0].numel())] * 2
    if isinstance(layer, nn.Conv2d) and layer.kernel_size != (1, 1):
        full = [16, 8]
    factored = factorize(net, {"1": full})
    x = torch.randn(2, 3, 9, 9) if isinstance(layer, nn.Conv2d) else torch.randn(2, 4)
    assert isinstance(factored[1], nn.Sequential)
    torch.testing.assert_close(factored(x), net(x), atol=1e-4, rtol=1e-4)


def test_a_global_ratio_halves_the_factorized_layers_and_the_record_rebuilds_them():
    torch.manual_seed(0)
    model = create_model("resnet20", 10, 3)
    ranks = choose_ranks(model, ratio=0.5)
    layers = factorizable(model)
    before = sum(layers[n].weight.numel() for n in ranks)
    factored = factorize(model, ranks)
    after = sum(p.numel() for n in ranks for p in factored.get_submodule(n).parameters()
                if p.ndim > 1)
    assert 0.3 * before < after <= 0.55 * before
    assert _count(factored) < _count(model)
    shell = refactor(create_model("resnet20", 10, 3), ranks)
    shell.load_state_dict(factored.state_dict())  # strict: same structure
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(shell.eval()(x), factored.eval()(x))


def test_a_full_multiplier_depthwise_separable_pair_reproduces_the_convolution():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 16, 3, stride=2, padding=1))
    factored = factorize(net, {"1": [9]})  # min(16 outputs, 3×3 taps) filters per channel
    depthwise, pointwise = factored[1]
    assert (depthwise.groups, depthwise.out_channels, pointwise.kernel_size) == (8, 72, (1, 1))
    x = torch.randn(2, 3, 9, 9)
    torch.testing.assert_close(factored(x), net(x), atol=1e-4, rtol=1e-4)
    one = factorize(net, {"1": [1]})  # MobileNet's separable layer: a coarser approximation
    assert 0 < (one(x) - net(x)).abs().mean() < net(x).abs().mean()


def test_depthwise_mode_takes_multiplier_one_and_its_record_rebuilds_the_model():
    torch.manual_seed(0)
    model = create_model("resnet20", 10, 3)
    ranks = choose_ranks(model, rank=1, mode="depthwise")
    convs = {n for n, m in factorizable(model).items() if getattr(m, "kernel_size", 0) == (3, 3)}
    assert convs and all(ranks[n] == [1] for n in convs)
    factored = factorize(model, ranks)
    assert _count(factored) < 0.3 * _count(model)
    shell = refactor(create_model("resnet20", 10, 3), ranks)
    shell.load_state_dict(factored.state_dict())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(shell.eval()(x), factored.eval()(x))
    by_ratio = choose_ranks(model, ratio=0.5, mode="depthwise")
    assert {len(by_ratio[n]) for n in convs & by_ratio.keys()} == {1}


def test_the_first_convolution_is_left_alone():
    model = create_model("resnet20", 10, 3)
    first = next(n for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    assert first not in factorizable(model)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rank": 1}, "rank 1 keeps a single direction"),
    ({"ratio": 1.5}, r"ratio=1.5 is out of range: it must be in \(0, 1\)"),
    ({"ratio": 0.0}, "ratio=0.0 is out of range"),
    ({"energy": 0.9, "ratio": 0.5}, "exactly one of energy, ratio or rank; got energy, ratio"),
    ({"rank": 2, "mode": "cp"}, "mode='cp' is unknown: use one of lowrank, depthwise"),
])
def test_bad_ranks_are_refused(kwargs, message):
    args = {"energy": None, "ratio": None, "rank": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        check_factorize(**args)
