"""CIFAR-style ResNets — He et al., "Deep Residual Learning for Image Recognition", 2015.

Two families from the paper: the ImageNet widths (ResNet-18/34/50/101, 64→512 channels) with a 3×3
stem and no max-pool, as popularised for 32×32 inputs, and the thin CIFAR networks of §4.2
(ResNet-20/32/44/56: 6n+2 layers, 16→64 channels). Global average pooling makes both work for any
input from 8×8 upwards.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from deepvision.models.registry import register_models


def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv_bn(c_in, planes, 3, stride)
        self.conv2 = conv_bn(planes, planes, 3)
        self.shortcut = _shortcut(c_in, planes * self.expansion, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.relu(self.conv1(x)))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv_bn(c_in, planes, 1)
        self.conv2 = conv_bn(planes, planes, 3, stride)
        self.conv3 = conv_bn(planes, planes * self.expansion, 1)
        self.shortcut = _shortcut(c_in, planes * self.expansion, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.relu(self.conv3(out) + self.shortcut(x))


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    # Projection shortcut (option B of the paper) only where the shape changes.
    return conv_bn(c_in, c_out, 1, stride) if stride != 1 or c_in != c_out else nn.Identity()


class ResNet(nn.Module):
    """A ResNet for small images: 3×3 stem, no max-pool, residual stages, GAP, linear head."""

    def __init__(self, block: type[BasicBlock | Bottleneck], num_blocks: list[int],
                 widths: list[int], num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(in_channels, widths[0]), nn.ReLU(inplace=True))
        stages, c_in = [], widths[0]
        for i, (n, planes) in enumerate(zip(num_blocks, widths, strict=True)):
            strides = [1 if i == 0 else 2] + [1] * (n - 1)
            blocks = []
            for s in strides:
                blocks.append(block(c_in, planes, s))
                c_in = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c_in, num_classes)
        _init_weights(self)

    def stage_names(self) -> list[str]:
        return [f"stages.{i}" for i in range(len(self.stages))]

    def forward_features(self, x: Tensor) -> Tensor:
        return self.pool(self.stages(self.stem(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.forward_features(x))


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


WIDE = [64, 128, 256, 512]
THIN = [16, 32, 64]

register_models(
    resnet18=partial(ResNet, BasicBlock, [2, 2, 2, 2], WIDE),
    resnet34=partial(ResNet, BasicBlock, [3, 4, 6, 3], WIDE),
    resnet50=partial(ResNet, Bottleneck, [3, 4, 6, 3], WIDE),
    resnet101=partial(ResNet, Bottleneck, [3, 4, 23, 3], WIDE),
    resnet20=partial(ResNet, BasicBlock, [3, 3, 3], THIN),
    resnet32=partial(ResNet, BasicBlock, [5, 5, 5], THIN),
    resnet44=partial(ResNet, BasicBlock, [7, 7, 7], THIN),
    resnet56=partial(ResNet, BasicBlock, [9, 9, 9], THIN),
)
