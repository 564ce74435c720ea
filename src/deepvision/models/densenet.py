"""DenseNets for small images — Huang et al., "Densely Connected Convolutional Networks", 2017.

DenseNet-BC as in kuangliu/pytorch-cifar: a 3×3 stem of 2·growth channels, bottleneck layers
(BN-ReLU-1×1 conv to 4·growth, BN-ReLU-3×3 conv to growth) whose outputs are concatenated, and
transitions that halve channels (reduction 0.5) and resolution. Transitions pool with ``ceil_mode``
and the head pools globally, so any input from 8×8 (or smaller) upwards works.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepvision.models.registry import register_models


class DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], dim=1)


def transition(c_in: int, c_out: int) -> nn.Sequential:
    # ceil_mode lets a 1×1 map pass through instead of vanishing.
    return nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
                         nn.Conv2d(c_in, c_out, 1, bias=False), nn.AvgPool2d(2, ceil_mode=True))


class DenseNet(nn.Module):
    """Stem, dense blocks joined by transitions, final BN-ReLU, GAP, linear head."""

    def __init__(self, num_layers: list[int], growth: int, reduction: float = 0.5,
                 num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        c = 2 * growth
        parts: list[nn.Module] = [nn.Conv2d(in_channels, c, 3, padding=1, bias=False)]
        for i, n in enumerate(num_layers):
            parts += [DenseLayer(c + j * growth, growth) for j in range(n)]
            c += n * growth
            if i < len(num_layers) - 1:
                c_out = math.floor(c * reduction)
                parts.append(transition(c, c_out))
                c = c_out
        parts += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*parts)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c, num_classes)

    def stage_names(self) -> list[str]:
        """Each dense block ends with its transition (the last with the final BN-ReLU)."""
        ends = [i for i, m in enumerate(self.features)
                if isinstance(m, nn.Sequential) or i == len(self.features) - 1]
        return [f"features.{i}" for i in ends]

    def forward_features(self, x: Tensor) -> Tensor:
        return self.pool(self.features(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.forward_features(x))


BLOCKS_121 = [6, 12, 24, 16]

register_models(
    densenet121=partial(DenseNet, BLOCKS_121, 32),
    densenet_cifar=partial(DenseNet, BLOCKS_121, 12),
)
