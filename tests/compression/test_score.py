"""The challenge score against hand computation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepvision.compression.score import challenge_score, dense_counts, model_score
from deepvision.models import create_model

# ResNet-18 (CIFAR: 3×3 stem, no max-pool) on 3×32×32, counted by hand:
# (output pixels, C_out, C_in × k × k) per convolution, then the 512 → 10 classifier.
# Stages 2-4 halve the side (16, 8, 4) and double the channels: a strided 3×3, three 3×3 and a
# 1×1 shortcut each.
CONVS = ([(32 * 32, 64, 3 * 9)] + [(32 * 32, 64, 64 * 9)] * 4
         + [row for side, c in ((16, 128), (8, 256), (4, 512)) for row in
            [(side**2, c, c // 2 * 9)] + [(side**2, c, c * 9)] * 3 + [(side**2, c, c // 2)]])
HAND_MACS = sum(p * c_out * fan_in for p, c_out, fan_in in CONVS) + 512 * 10
HAND_PARAMS = 11_173_962   # He et al.'s ResNet-18 with a 10-class head, as tabulated everywhere


class AllInt8(nn.Module):
    """Stands for a backend's int8 graph: every layer of ``float_model`` at 8 bits."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.float_model = net

    def quant_bits(self) -> dict[str, tuple[int, int]]:
        return {n: (8, 8) for n, _ in self.float_model.named_modules() if n}


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    return create_model("resnet18", 10, 3).eval()


def test_resnet18_scores_4_2_1_in_fp32_fp16_int8(resnet18):
    assert HAND_MACS == 555_422_720
    fp32 = challenge_score(resnet18, (3, 32, 32))
    assert (fp32.w, fp32.f, fp32.q_w, fp32.q_a) == (HAND_PARAMS, HAND_MACS, 32, 32)
    hand = HAND_PARAMS / 5.6e6 + HAND_MACS / 2.8e8
    assert fp32.challenge_score == pytest.approx(hand) and round(hand, 1) == 4.0
    fp16 = challenge_score(resnet18.half(), (3, 32, 32))
    assert fp16.q_w == fp16.q_a == 16 and fp16.challenge_score == pytest.approx(hand / 2)
    int8 = challenge_score(AllInt8(resnet18.float()), (3, 32, 32))
    assert int8.q_w == int8.q_a == 8 and int8.challenge_score == pytest.approx(hand / 4)


def test_unstructured_zeros_count_in_the_weight_term_only():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    with torch.no_grad():
        net[0].weight[:2] = 0            # 18 of the conv's 36 weights
        net[2].weight[:, :100] = 0       # 200 of the linear's 288 weights
    w, f = 36 + 288 + 2, 36 * 36 + 144 * 2
    parts = challenge_score(net, (1, 8, 8))
    assert (parts.w, parts.f, parts.p_s) == (w, f, 0)
    assert parts.p_u == pytest.approx(218 / w)
    assert parts.challenge_score == pytest.approx((1 - 218 / w) * w / 5.6e6 + f / 2.8e8)


def test_structured_pruning_counts_against_the_dense_architecture():
    dense_net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Flatten(), nn.Linear(8 * 6 * 6, 2))
    dense = dense_counts(dense_net, (1, 8, 8))
    pruned = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    pruned.meta = {"compression": {"dense": dense}}
    parts = model_score(pruned, (1, 8, 8))
    w_dense, w_now = 8 * 10 + 288 * 2 + 2, 4 * 10 + 144 * 2 + 2
    assert dense == {"parameters": w_dense, "macs": 36 * 72 + 288 * 2}
    assert parts.p_s == pytest.approx(1 - w_now / w_dense) and parts.w == w_dense
    assert parts.weight_term == pytest.approx(w_now / 5.6e6)
