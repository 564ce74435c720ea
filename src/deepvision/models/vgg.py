"""VGG — Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"

arXiv:1409.1556, 2014; here with batch norm after every conv. Configurations A, B, D and E of the
paper are layer lists (an int is a 3×3 conv-BN-ReLU of that width, ``"M"`` a 2×2 max-pool); the
head is kuangliu/pytorch-cifar's: one Linear 512 → classes instead of three fully connected layers.
The pools use ``ceil_mode`` so a 1×1 map passes through instead of vanishing, and the head pools
globally, so every variant works from 8×8 to 224×224 inputs.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from deepvision.models.registry import register_models

M = "M"
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
    "B": [64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
    "D": [64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M],
    "E": [64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M,
          512, 512, 512, 512, M],
}


def make_layers(config: list[int | str], in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for v in config:
        if v == M:
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        else:
            layers += [nn.Conv2d(in_channels, v, 3, padding=1), nn.BatchNorm2d(v),
                       nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """Conv-BN-ReLU stacks and max-pools from a layer list, GAP, one linear head."""

    def __init__(self, config: str, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.features = make_layers(CONFIGS[config], in_channels)
        width = [v for v in CONFIGS[config] if v != M][-1]
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(width, num_classes)

    def stage_names(self) -> list[str]:
        """Each resolution ends with a max-pool."""
        return [f"features.{i}" for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d)]

    def forward_features(self, x: Tensor) -> Tensor:
        return self.pool(self.features(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.forward_features(x))


register_models(
    vgg11_bn=partial(VGG, "A"),
    vgg13_bn=partial(VGG, "B"),
    vgg16_bn=partial(VGG, "D"),
    vgg19_bn=partial(VGG, "E"),
)
