"""Test-time augmentation as a model wrapper: the logits averaged over mirrored and shifted views
(airbench's ``tta_level`` 1 and 2), so ``predict`` and every evaluation use it unchanged."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

TTA_MODES = ("none", "flip", "flip_translate")


class TestTimeAugment(nn.Module):
    """``flip``: mean of the image and its mirror. ``flip_translate``: half that, plus a quarter
    each for the image shifted one pixel up-left and one down-right (reflect-padded), mirrored
    too: 6 forward passes per image."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, model: nn.Module, mode: str = "flip") -> None:
        super().__init__()
        if mode not in TTA_MODES[1:]:
            raise ValueError(f"test-time augmentation {mode!r} is not one of {TTA_MODES[1:]}")
        self.model, self.mode = model, mode

    def forward(self, x: Tensor) -> Tensor:
        logits = self._mirrored(x)
        if self.mode == "flip":
            return logits
        h, w = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        shifted = [padded[..., :h, :w], padded[..., 2:, 2:]]
        return 0.5 * logits + 0.25 * sum(self._mirrored(s) for s in shifted)

    def _mirrored(self, x: Tensor) -> Tensor:
        return 0.5 * (self.model(x).float() + self.model(x.flip(-1)).float())


def with_tta(model: nn.Module, mode: str) -> nn.Module:
    """``model`` wrapped for test-time augmentation ``mode`` (``none``: ``model`` itself)."""
    return model if mode == "none" else TestTimeAugment(model, mode)
