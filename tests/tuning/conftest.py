import pytest
import torch

from deepvision.data.imageset import ImageSet
from deepvision.tuning import TuneConfig

SPACE = {"train.lr": {"type": "log_uniform", "low": 0.01, "high": 0.2}}


def toy_split(n: int, seed: int) -> ImageSet:
    """Learnable 8×8 uint8 images: the class sets which quadrant is bright."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randint(0, 60, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    for c in range(3):
        r, col = divmod(c, 2)
        x[y == c, :, r * 4:(r + 1) * 4, col * 4:(col + 1) * 4] += 180
    return ImageSet(x, y, ("a", "b", "c"), mean=(0.4,), std=(0.3,))


@pytest.fixture
def splits() -> tuple[ImageSet, ImageSet]:
    return toy_split(48, 0), toy_split(24, 1)


@pytest.fixture
def base_params() -> dict[str, dict]:
    return {"train": {"epochs": 2, "batch_size": 16, "lr": 0.05, "device": "cpu"},
            "augment": {}, "model": {"name": "lenet5", "seed": 0}}


@pytest.fixture
def tune_cfg(tmp_path):
    def make(**overrides) -> TuneConfig:
        kwargs = {"storage": f"sqlite:///{tmp_path / 'tune.db'}", "n_trials": 3,
                  "sampler": "random", "pruner": "none", "space": SPACE, **overrides}
        return TuneConfig(**kwargs)
    return make
