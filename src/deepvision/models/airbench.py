"""The airbench94 network — Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024
(github.com/KellerJordan/cifar10-airbench). Written afresh for this registry from the paper's
description; ``benchmarks/airbench_reference.py`` is the bare reference recipe it is timed against.

A frozen 2×2 patch-whitening convolution (its weights set from the training images by
``data_init``, which ``fit`` calls before the first step), then three conv groups (conv → max-pool →
BN → GELU → conv → BN → GELU, widths 64/256/256), a global max-pool and a linear layer whose logits
are scaled down by ``logit_scale``. Convolutions start as identities (Dirac) on their first input
channels; batch norms learn only their shift.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepvision.models.registry import register_model


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False)
    nn.init.dirac_(conv.weight.data[:c_in])  # an implicit residual path at initialisation
    return conv


def _norm(channels: int, momentum: float) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels, eps=1e-12, momentum=momentum)
    norm.weight.requires_grad_(False)  # scale fixed at 1: only the shift is learned
    return norm


class ConvGroup(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, momentum: float, ceil: bool = False) -> None:
        super().__init__(_conv(c_in, c_out), nn.MaxPool2d(2, ceil_mode=ceil),
                         _norm(c_out, momentum), nn.GELU(),
                         _conv(c_out, c_out), _norm(c_out, momentum), nn.GELU())


class AirbenchNet(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3,
                 widths: tuple[int, int, int] = (64, 256, 256), whiten_kernel: int = 2,
                 bn_momentum: float = 0.4, logit_scale: float = 1 / 9,
                 whiten_images: int = 5000, whiten_eps: float = 5e-4) -> None:
        super().__init__()
        self.whiten = nn.Conv2d(in_channels, 2 * in_channels * whiten_kernel ** 2, whiten_kernel,
                                bias=True)
        self.whiten.weight.requires_grad_(False)
        self.whiten_images, self.whiten_eps, self.logit_scale = whiten_images, whiten_eps, \
            logit_scale
        c, groups = self.whiten.out_channels, []
        for i, width in enumerate(widths):
            # The last pool rounds up (7 → 4 on 32-pixel inputs, where airbench's gives 3 and
            # then drops a row and column) so that 8-pixel inputs still reach 1×1.
            groups.append(ConvGroup(c, width, bn_momentum, ceil=i == len(widths) - 1))
            c = width
        self.body = nn.Sequential(nn.GELU(), *groups, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(c, num_classes, bias=False)

    def features(self, x: Tensor) -> Tensor:
        return self.body(self.whiten(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)) * self.logit_scale

    def data_init(self, images: Tensor) -> None:
        """Set the whitening filters from normalised training ``images``: the eigenvectors of
        the covariance of their k×k patches, scaled to unit variance, and their negatives."""
        weight = self.whiten.weight
        c, k = weight.shape[1], weight.shape[2]
        x = images[:self.whiten_images].float()
        patches = x.unfold(2, k, 1).unfold(3, k, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        filters = (eigenvectors.T / (eigenvalues[:, None] + self.whiten_eps).sqrt())
        filters = filters.flip(0).reshape(c * k * k, c, k, k)  # largest variance first
        with torch.no_grad():
            weight.copy_(torch.cat([filters, -filters]).to(weight))


@register_model
def airbench94(num_classes: int = 10, in_channels: int = 3, **kwargs) -> nn.Module:
    """airbench94's network (2.0 M parameters); its recipe is ``conf/fast_cifar10``."""
    return AirbenchNet(num_classes, in_channels, **kwargs)
