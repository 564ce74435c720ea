"""torchvision classifiers under ``tv:<name>`` — built with ``torchvision.models.get_model``.

Any name from ``torchvision.models.list_models(module=torchvision.models)`` works (``resnet18``,
``mobilenet_v3_small``, ``vit_b_16``, ...). Models are always built with ``weights=None`` (nothing
is downloaded); the classifier is replaced for ``num_classes`` and the first convolution for
``in_channels``. Extra keyword arguments go to the torchvision constructor.

These are ImageNet architectures that downsample 32× or more, so small inputs may fail. Measured
on one-channel inputs: ResNet, MobileNet, EfficientNet, ShuffleNet, MNASNet, RegNet and Swin run
even at 8×8; VGG, DenseNet, ConvNeXt, SqueezeNet and GoogLeNet need ≥ 32 px; AlexNet ≥ 63 px;
Inception-v3 ≥ 75 px; ViT and MaxViT exactly their ``image_size`` (224×224). Use the CIFAR families
for tiny images.
"""

from __future__ import annotations

import difflib
from typing import Any

import torch
import torchvision
from torch import nn

from deepvision.models.heads import replace_head, set_submodule

# Auxiliary classifiers make these return tuples when training; the contract is one logits tensor.
# init_weights=True is torchvision's behaviour anyway, stated to silence its FutureWarning.
DEFAULT_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}


def torchvision_names() -> list[str]:
    """The classification models torchvision can build."""
    return torchvision.models.list_models(module=torchvision.models)


def check_torchvision_name(name: str) -> None:
    """Fail with close matches and all known names if torchvision has no classifier ``name``."""
    names = torchvision_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown torchvision model {name!r} (model.name 'tv:{name}').{hint} "
                         f"Known: {', '.join(names)}")


def create_torchvision_model(name: str, num_classes: int, in_channels: int = 3,
                             **kwargs: Any) -> nn.Module:
    """An untrained torchvision classifier with ``num_classes`` outputs, ``in_channels`` inputs."""
    check_torchvision_name(name)
    model = torchvision.models.get_model(name, weights=None, **{**DEFAULT_KWARGS.get(name, {}),
                                                                  **kwargs})
    replace_head(model, num_classes)
    if in_channels != 3:
        adapt_input_channels(model, in_channels)
    return model


def adapt_input_channels(model: nn.Module, in_channels: int) -> nn.Module:
    """Replace the first ``Conv2d`` by one with ``in_channels`` inputs, otherwise the same config.

    The new weights are derived from the old ones (summed over RGB for one channel, else repeated
    and rescaled, as timm does), so a pretrained stem responds alike to grey or multi-band input.
    """
    name, old = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    if old.groups != 1:
        raise ValueError(f"first conv {name!r} is grouped; cannot change its input channels")
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, stride=old.stride,
                    padding=old.padding, dilation=old.dilation, groups=old.groups,
                    bias=old.bias is not None, padding_mode=old.padding_mode,
                    device=old.weight.device, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(_adapt_weight(old.weight, in_channels))
        if old.bias is not None:
            new.bias.copy_(old.bias)
    set_submodule(model, name, new)
    return model


def _adapt_weight(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    c = weight.shape[1]
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_channels // c)
    return weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (c / in_channels)
