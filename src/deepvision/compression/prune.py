"""Pruning: global unstructured magnitude pruning (Han et al. 2015) and structured channel pruning
that really removes channels (Li et al. 2017's L1 filter norm, Torch-Pruning's dependency graph).

Unstructured pruning masks weights with a parametrization (``torch.nn.utils.parametrize``): the
mask is applied in every forward pass, so a fine-tuning through ``fit`` keeps the pruned weights at
zero with no extra hook, and ``make_permanent`` bakes the zeros into plain weights before saving
or export. (``torch.nn.utils.prune`` does the same with a forward pre-hook, but its computed
``weight`` attribute cannot be deep-copied, and ``fit`` copies its model.) Structured pruning
goes through Torch-Pruning because which channels must fall together (a residual sum ties the
channels of every block in a stage) is a graph problem: its ``DependencyGraph`` removes them from
every coupled convolution, batch norm and linear layer. A pruned model keeps its registry spec
(the dense architecture) plus ``layer_shapes``, from which ``shrink_to`` rebuilds it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)


def check_sparsity(sparsity: float, key: str = "sparsity") -> None:
    """Refuse a fraction outside [0, 1) with one line naming ``key``."""
    if not 0 <= sparsity < 1:
        raise ValueError(f"{key}={sparsity!r} is out of range: a fraction of weights to remove "
                         "must be in [0, 1) (0.8 removes 80%)")


def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, "weight") for every convolution and linear layer."""
    return [(m, "weight") for m in model.modules() if isinstance(m, PRUNABLE)]


def prune_global_magnitude(model: nn.Module, sparsity: float) -> nn.Module:
    """A copy of ``model`` with the ``sparsity`` fraction of its conv/linear weights of smallest
    magnitude, ranked across all layers, masked to zero (the mask stays until
    ``make_permanent``). Weights already zero are ranked first, so rounds only ever add zeros."""
    check_sparsity(sparsity)
    model = make_permanent(copy.deepcopy(model))
    layers = [m for m, _ in prunable_weights(model)]
    scores = torch.cat([m.weight.detach().abs().flatten() for m in layers])
    keep = torch.ones_like(scores, dtype=torch.bool)
    keep[scores.topk(round(sparsity * len(scores)), largest=False).indices] = False
    for m, mask in zip(layers, keep.split([m.weight.numel() for m in layers]), strict=True):
        parametrize.register_parametrization(m, "weight", WeightMask(mask.view_as(m.weight)))
    return model


class WeightMask(nn.Module):
    """Zeroes the pruned weights in every forward pass, so training cannot revive them."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.clone())

    def forward(self, w: Tensor) -> Tensor:
        return w * self.mask.to(w.dtype)


def sparsity_schedule(target: float, rounds: int) -> list[float]:
    """Iterative pruning targets: equal steps of the kept fraction's logarithm, ending at
    ``target`` (each round removes the same share of what is left)."""
    check_sparsity(target)
    if rounds < 1:
        raise ValueError(f"rounds={rounds!r}: iterative pruning needs at least 1 round")
    keep = 1 - target
    return [1 - keep ** ((k + 1) / rounds) for k in range(rounds)]


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every weight parametrization (pruning masks, fake quantization) into a plain weight
    holding the values the forward pass saw (in place; returns ``model``)."""
    for m in model.modules():
        if parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
    return model


def weight_sparsity(model: nn.Module) -> float:
    """Fraction of conv/linear weights that are exactly zero."""
    weights = [m.weight for m, _ in prunable_weights(model)]
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / total if total else 0.0


def prune_channels(model: nn.Module, ratio: float, example: Tensor,
                   keep: Sequence[str] = ()) -> nn.Module:
    """A copy of ``model`` with ``ratio`` of the output channels of every convolution removed
    (lowest L1 filter norm first), through residual connections; the classifier (the last linear
    layer) and the layers named in ``keep`` keep their outputs."""
    import torch_pruning as tp

    check_sparsity(ratio, "structured ratio")
    model = make_permanent(copy.deepcopy(model)).eval()
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1:]
    ignored = last + [model.get_submodule(n) for n in keep]
    importance = tp.importance.GroupMagnitudeImportance(p=1)  # L1 filter norm (Li et al. 2017)
    pruner = tp.pruner.BasePruner(model, example, importance=importance, pruning_ratio=ratio,
                                  ignored_layers=ignored)
    pruner.step()
    return model


def layer_shapes(model: nn.Module) -> dict[str, list[int]]:
    """Shape of every parameter and buffer, by state-dict key: what ``shrink_to`` needs."""
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def shrink_to(model: nn.Module, shapes: Mapping[str, Sequence[int]]) -> nn.Module:
    """Resize the parameters and buffers of conv, batch-norm and linear layers (in place) to
    ``shapes`` (from ``layer_shapes`` of a channel-pruned model) so its weights load."""
    for name, m in model.named_modules():
        prefix = f"{name}." if name else ""
        tensors = {**dict(m.named_parameters(recurse=False)),
                   **dict(m.named_buffers(recurse=False))}
        for attr, t in tensors.items():
            shape = shapes.get(prefix + attr)
            if shape is None or list(t.shape) == list(shape):
                continue
            fresh = torch.zeros(shape, dtype=t.dtype, device=t.device)
            if isinstance(t, nn.Parameter):
                setattr(m, attr, nn.Parameter(fresh, requires_grad=t.requires_grad))
            else:
                setattr(m, attr, fresh)
        _sync_sizes(m)
    return model


def _sync_sizes(m: nn.Module) -> None:
    if isinstance(m, nn.modules.conv._ConvNd):
        m.out_channels, m.in_channels = m.weight.shape[0], m.weight.shape[1] * m.groups
    elif isinstance(m, nn.modules.batchnorm._BatchNorm):
        m.num_features = m.weight.shape[0] if m.weight is not None else m.running_mean.shape[0]
    elif isinstance(m, nn.Linear):
        m.out_features, m.in_features = m.weight.shape
