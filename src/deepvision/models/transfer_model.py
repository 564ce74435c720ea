"""A pretrained backbone behind an input adapter, with a new head: the model of transfer learning
(Yosinski et al., "How transferable are features in deep neural networks?", 2014).

``TransferModel`` takes the project's usual input — [0, 1] float images of any size, 1 or 3
channels — and adapts it to the backbone (grey → 3 channels, resize to its resolution, its own
normalisation), so training, evaluation and inference need no special preprocessing. Registered as
``transfer``: ``create_model("transfer", 10, 1, backbone="bundled:efficientnet_lite0")``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepvision.models.heads import NORM_LAYERS, find_head, set_submodule
from deepvision.models.pretrained import load_backbone
from deepvision.models.registry import register_model
from deepvision.models.stages import stage_names, truncate


class TransferModel(nn.Module):
    """``head(body(adapt(x)))``: ``body`` is the pretrained network without its classifier."""

    def __init__(self, body: nn.Module, num_features: int, num_classes: int, in_channels: int,
                 input_size: int | None, mean: tuple[float, ...], std: tuple[float, ...],
                 freeze_norm_stats: bool = False) -> None:
        super().__init__()
        self.body = body
        self.freeze_norm_stats = freeze_norm_stats
        self.head = nn.Linear(num_features, num_classes)
        self.in_channels, self.input_size = in_channels, input_size
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> TransferModel:
        """With ``freeze_norm_stats`` the body's norm layers keep the pretrained running statistics
        (their affine weights still train): a few hundred small batches of a new domain would
        otherwise leave train-mode and eval-mode statistics far apart."""
        super().train(mode)
        for m in self.body.modules():
            if isinstance(m, NORM_LAYERS) and self.freeze_norm_stats:
                m.eval()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is not None:
                # TF-ported weights use momentum 0.01: too slow to follow a new domain in a few
                # hundred steps, leaving eval-mode statistics far from the training batches.
                m.momentum = max(m.momentum, 0.1)
        return self

    def adapt(self, x: Tensor) -> Tensor:
        if x.shape[1] == 1 and self.mean.shape[1] == 3:
            x = x.expand(-1, 3, -1, -1)
        if self.input_size is not None and x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False)
        return (x - self.mean) / self.std

    def features(self, x: Tensor) -> Tensor:
        """Pooled backbone features (what the head sees)."""
        return self.body(self.adapt(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def stage_names(self) -> list[str]:
        """The backbone's own stage list (``models.stages``), as names inside this model."""
        return [f"body.{name}" for name in stage_names(self.body)]


@register_model(pretrained=True)
def transfer(num_classes: int, in_channels: int = 3, backbone: str = "bundled:efficientnet_lite0",
             input_size: int | None = None, download: bool = False,
             freeze_norm_stats: bool = False, stages: int | None = None) -> TransferModel:
    """Load ``backbone`` (see ``pretrained.load_backbone``) and give it a ``num_classes`` head;
    ``input_size`` overrides the backbone's native resolution (smaller is faster); ``stages``
    keeps only the backbone's first ``stages`` stages (a probe of an early stage as a model)."""
    loaded = load_backbone(backbone, allow_download=download)
    name, _ = find_head(loaded.model)
    set_submodule(loaded.model, name, nn.Identity())
    if in_channels not in (1, len(loaded.mean)):
        raise ValueError(f"backbone {backbone} takes {len(loaded.mean)} channels; data with "
                         f"{in_channels} channels cannot be adapted")
    model = TransferModel(loaded.model, loaded.num_features, num_classes, in_channels,
                          input_size or loaded.input_size, loaded.mean, loaded.std,
                          freeze_norm_stats)
    if stages is not None:
        truncate(model, stages)
        model.head = nn.Linear(_feature_width(model), num_classes)
    return model


@torch.no_grad()
def _feature_width(model: TransferModel) -> int:
    """How many features the (cut) body gives, from one small forward pass in eval mode."""
    was_training = model.training
    size = model.input_size or 64
    width = model.eval().features(torch.zeros(1, model.in_channels, size, size)).shape[1]
    model.train(was_training)
    return int(width)
