"""Parameter, MAC, memory and per-layer summaries on tiny hand-checkable models and ResNet-18."""

import pytest
import torch
from torch import nn

from deepvision.models import (
    count_macs,
    count_parameters,
    create_model,
    freeze,
    layer_summary,
    model_size_mb,
)


def tiny() -> nn.Sequential:
    # conv: 2 out × 1 in × 9 taps × 16 positions = 288 MACs; linear: 32 × 3 = 96 MACs.
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(32, 3))


def test_count_parameters_splits_trainable():
    model = tiny()
    freeze(model[0])
    assert count_parameters(model) == (20 + 4 + 99, 4 + 99)


def test_count_macs_by_hand():
    assert count_macs(tiny(), (1, 4, 4)) == 288 + 96


def test_count_macs_resnet18_cifar():
    # ≈ 0.56 GMACs, as reported for kuangliu/pytorch-cifar's ResNet-18 at 32×32.
    assert count_macs(create_model("resnet18", 10, 3), (3, 32, 32)) == 555_422_720


def test_count_macs_restores_mode_and_rejects_batched_shape():
    model = tiny().train()
    model[1].eval()
    count_macs(model, (1, 4, 4))
    assert model.training and model[0].training and not model[1].training
    with pytest.raises(ValueError, match="channels, height, width"):
        count_macs(model, (1, 1, 4, 4))


def test_model_size_mb_counts_buffers():
    # 2 weights + 2 biases + 2 running means + 2 running vars as float32, one int64 batch counter.
    assert model_size_mb(nn.BatchNorm2d(2)) == (8 * 4 + 8) / 2**20
    assert model_size_mb(nn.Linear(4, 4).to(torch.float64)) == 20 * 8 / 2**20


def test_layer_summary_lists_leaf_modules_in_call_order():
    rows = layer_summary(tiny(), (1, 4, 4))
    assert [r["name"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert [r["type"] for r in rows] == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten", "Linear"]
    assert rows[0]["output_shape"] == (1, 2, 4, 4)
    assert rows[-1] == {"name": "4", "type": "Linear", "output_shape": (1, 3), "params": 99}


def test_layer_summary_leaves_no_hooks():
    model = create_model("resnet20", 10, 1)
    rows = layer_summary(model, (1, 8, 8))
    assert sum(r["params"] for r in rows) == count_parameters(model)[0]
    assert rows[-1]["output_shape"] == (1, 10)
    assert all(not m._forward_hooks for m in model.modules())
