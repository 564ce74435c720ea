"""Test-time augmentation averages the views it names, and only those."""

import pytest
import torch
from torch import nn

from deepvision.evaluation import TestTimeAugment, with_tta


class Probe(nn.Module):
    """Logits that read the left column and the top-left pixel, so every view differs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0, :, 0].sum(1), x[:, 0, 0, 0]], 1)


def test_flip_averages_the_image_and_its_mirror():
    x = torch.rand(4, 1, 5, 5)
    expected = 0.5 * (Probe()(x) + Probe()(x.flip(-1)))
    torch.testing.assert_close(TestTimeAugment(Probe(), "flip")(x), expected)


def test_flip_translate_adds_the_two_diagonal_shifts_at_a_quarter_each():
    x = torch.rand(2, 1, 4, 4)
    padded = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    flip = TestTimeAugment(Probe(), "flip")
    expected = 0.5 * flip(x) + 0.25 * (flip(padded[..., :4, :4]) + flip(padded[..., 2:, 2:]))
    torch.testing.assert_close(TestTimeAugment(Probe(), "flip_translate")(x), expected)


def test_a_flip_invariant_model_is_unchanged_by_tta():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
    x = torch.rand(3, 3, 8, 8)
    torch.testing.assert_close(with_tta(model, "flip")(x), model(x))


def test_none_returns_the_model_and_unknown_modes_fail():
    model = Probe()
    assert with_tta(model, "none") is model
    with pytest.raises(ValueError, match="rotate"):
        with_tta(model, "rotate")
