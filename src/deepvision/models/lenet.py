"""LeNet-5 — LeCun et al., "Gradient-Based Learning Applied to Document Recognition", 1998.

The classic layer sizes (conv 6@5×5, pool, conv 16@5×5, pool, 120, 84, classes; 62,006 parameters
for 10 classes and 3 channels, as kuangliu/pytorch-cifar's LeNet) with ReLU and max-pooling. Both
convs are padded and an adaptive average pool restores the 16×5×5 map the first dense layer expects,
so any input from 8×8 upwards works.
"""

from __future__ import annotations

from torch import Tensor, nn

from deepvision.models.registry import register_models


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(5), nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


register_models(lenet5=LeNet5)
