"""Pre-activation ResNets — He et al., "Identity Mappings in Deep Residual Networks", 2016.

Each unit is BN → ReLU → conv → BN → ReLU → conv, added to an untouched identity path. As in §4.1
of the paper, the first unit of every stage activates *before* splitting (its shortcut sees the
normalised input) and the last unit is followed by an extra BN → ReLU before pooling. That final BN
is the only difference in parameters from kuangliu/pytorch-cifar's PreActResNet (+2·512). 3×3 stem,
no max-pool and global average pooling, so any input from 8×8 upwards works.
"""

from __future__ import annotations

from functools import partial

import torch.nn.functional as F
from torch import Tensor, nn

from deepvision.models.registry import register_models


class PreActBlock(nn.Module):
    def __init__(self, c_in: int, planes: int, stride: int = 1, first: bool = False) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        projection = stride != 1 or c_in != planes
        self.shortcut = nn.Conv2d(c_in, planes, 1, stride=stride, bias=False) if projection \
            else nn.Identity()
        self.activate_shortcut = first or projection

    def forward(self, x: Tensor) -> Tensor:
        pre = F.relu(self.bn1(x))
        shortcut = self.shortcut(pre if self.activate_shortcut else x)
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + shortcut


class PreActResNet(nn.Module):
    """3×3 stem, four stages of pre-activation blocks, final BN-ReLU, GAP, linear head."""

    def __init__(self, num_blocks: list[int], widths: list[int], num_classes: int = 10,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        stages, c_in = [], widths[0]
        for i, (n, planes) in enumerate(zip(num_blocks, widths, strict=True)):
            strides = [1 if i == 0 else 2] + [1] * (n - 1)
            blocks = [PreActBlock(c_in if j == 0 else planes, planes, s, first=j == 0)
                      for j, s in enumerate(strides)]
            stages.append(nn.Sequential(*blocks))
            c_in = planes
        self.stages = nn.Sequential(*stages)
        self.post = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def stage_names(self) -> list[str]:
        return [f"stages.{i}" for i in range(len(self.stages))]

    def forward_features(self, x: Tensor) -> Tensor:
        return self.pool(self.post(self.stages(self.stem(x))))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.forward_features(x))


WIDE = [64, 128, 256, 512]

register_models(
    preact_resnet18=partial(PreActResNet, [2, 2, 2, 2], WIDE),
    preact_resnet34=partial(PreActResNet, [3, 4, 6, 3], WIDE),
)
