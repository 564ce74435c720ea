import pytest
import torch
from torch import nn

from deepvision.engine import TrainConfig
from tests.synthetic import quadrant_images


class TinyNet(nn.Module):
    """A conv net small enough to train for a few epochs in well under a second."""

    def __init__(self, num_classes: int = 3, in_channels: int = 1, norm: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.norm = nn.BatchNorm2d(8) if norm else nn.Identity()
        self.fc = nn.Linear(8 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.norm(self.conv(x)))
        return self.fc(nn.functional.adaptive_avg_pool2d(x, 2).flatten(1))


def toy_data(n: int = 96, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return quadrant_images(n, classes, seed)


@pytest.fixture
def data():
    return toy_data()


@pytest.fixture
def cfg(tmp_path):
    # val_every=1: these tests often validate on the training set, which auto would skip.
    return TrainConfig(epochs=3, batch_size=16, lr=0.05, warmup_epochs=0, progress="off",
                       checkpoint_dir=str(tmp_path / "ckpt"), run_name="t", val_every=1)


@pytest.fixture
def net():
    torch.manual_seed(0)
    return TinyNet()
