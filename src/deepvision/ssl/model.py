"""A backbone with a projection head for self-supervised training (SimCLR, Chen et al. 2020), and
for BYOL (Grill et al. 2020) a predictor and a slowly moving target copy.

``SSLModel(backbone)`` takes any classifier of the registry: its last classifier layer is set aside
and the rest becomes ``encoder`` (image → pooled features). ``backbone_model()`` puts a classifier
layer back, so the result is a plain registry model that a bundle rebuilds and
``load_backbone("checkpoint:…")`` / ``fine_tune`` take like any other.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from deepvision.models.heads import find_head, set_submodule

METHODS = ("simclr", "byol")


def mlp(c_in: int, hidden: int, c_out: int) -> nn.Sequential:
    """SimCLR's projection head: Linear → BatchNorm → ReLU → Linear."""
    return nn.Sequential(nn.Linear(c_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, c_out))


class SSLModel(nn.Module):
    """``projector(encoder(x))`` (SimCLR); BYOL adds ``predictor`` and the EMA ``target_*``."""

    def __init__(self, backbone: nn.Module, method: str = "simclr", hidden_dim: int = 512,
                 projection_dim: int = 128, target_momentum: float = 0.99) -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown self-supervised method {method!r}; choose one of "
                             f"{', '.join(METHODS)}")
        self.method, self.target_momentum = method, target_momentum
        self.head_name, head = find_head(backbone)
        if not isinstance(head, nn.Linear):
            raise ValueError(f"{type(backbone).__name__}'s classifier {self.head_name!r} is not a "
                             "Linear layer; self-supervised pretraining needs pooled features")
        self._head = [copy.deepcopy(head)]  # a list: kept out of the state dict and the optimiser
        self.backbone_spec = getattr(backbone, "spec", None)
        self.encoder = copy.deepcopy(backbone)
        set_submodule(self.encoder, self.head_name, nn.Identity())
        self.projector = mlp(head.in_features, hidden_dim, projection_dim)
        if method == "byol":
            self.predictor = mlp(projection_dim, hidden_dim, projection_dim)
            self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
            self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """SimCLR: the projections. BYOL: (online predictions, target projections)."""
        z = self.projector(self.encoder(x))
        if self.method == "simclr":
            return z
        with torch.no_grad():
            target = self.target_projector(self.target_encoder(x))
        return self.predictor(z), target

    @torch.no_grad()
    def update_target(self) -> None:
        """BYOL: target ← m·target + (1 − m)·online, parameters and buffers alike."""
        pairs = ((self.target_encoder, self.encoder), (self.target_projector, self.projector))
        for target, online in pairs:
            for t, o in zip(target.state_dict().values(), online.state_dict().values(),
                            strict=True):
                if t.is_floating_point():
                    t.lerp_(o, 1 - self.target_momentum)
                else:
                    t.copy_(o)

    def backbone_model(self) -> nn.Module:
        """The encoder with a classifier layer put back: a plain model of the backbone's
        architecture (its ``spec`` kept), on the CPU, in eval mode."""
        net = copy.deepcopy(self.encoder).to("cpu", memory_format=torch.contiguous_format)
        set_submodule(net, self.head_name, copy.deepcopy(self._head[0]).to("cpu"))
        if self.backbone_spec is not None:
            net.spec = self.backbone_spec
        return net.eval()


def update_target(model: nn.Module) -> None:
    """``TrainHooks.after_step`` of BYOL (module level, so it pickles into DDP ranks)."""
    model.update_target()
