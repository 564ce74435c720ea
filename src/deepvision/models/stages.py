"""A network's stages, as the network itself declares them, and their pooled features.

``stage_names(model)`` is the one place a backbone's stage list comes from, input to output:

- a model with a ``stage_names()`` method (this package's ResNets, ``TransferModel``) lists them;
- a timm model lists them in ``feature_info`` (EfficientNet-Lite0: ``blocks.0/1/2/4/6``, one per
  resolution, 16/24/40/112/320 channels at strides 2/4/8/16/32);
- a torchvision ResNet/ResNeXt/Wide-ResNet: ``layer1``..``layer4`` (torchvision declares no stage
  list, so its families are named here once).

``stage_groups`` partitions the model around those boundaries: every module before the first stage
(the stem) joins the first stage, every module between two stages joins the later one, and every
module after the last stage but before the classifier (EfficientNet's 1×1 ``conv_head``) joins the
last one. So "the last k stages" is a set of modules covering the network's end, and k = all is the
whole network but its head.

Stage features (``StageTaps``): the output of each stage, averaged over space, N × C; the last
stage's features are the classifier's input, i.e. exactly what a linear probe of the full
backbone sees. One forward pass yields every stage at once. Widths (tested):

- EfficientNet-Lite0 (``transfer`` with ``bundled:efficientnet_lite0``): 16, 24, 40, 112, 1280
  (the last after Lite0's 1×1 ``conv_head``, 320 → 1280);
- ResNet-20 (``resnet20``): 16, 32, 64;
- torchvision ResNet-18 (``tv:resnet18``): 64, 128, 256, 512.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from deepvision.models.heads import find_head, set_submodule

# torchvision's classifiers name their stages in the source only; its ResNet family shares one.
_TORCHVISION_STAGES = {"ResNet": ("layer1", "layer2", "layer3", "layer4")}


def stage_names(model: nn.Module) -> list[str]:
    """Dotted names of ``model``'s stages, input to output (see the module docstring)."""
    own = getattr(model, "stage_names", None)
    if callable(own):
        return list(own())
    info = getattr(model, "feature_info", None)
    if isinstance(info, Sequence) and info and isinstance(info[0], dict) and "module" in info[0]:
        return [entry["module"] for entry in info]
    module = type(model).__module__
    if module.startswith("torchvision.") and type(model).__name__ in _TORCHVISION_STAGES:
        return list(_TORCHVISION_STAGES[type(model).__name__])
    raise ValueError(f"{type(model).__name__} declares no stages: give it a stage_names() method "
                     "returning its stage modules' dotted names, input to output")


def stage_groups(model: nn.Module) -> list[list[str]]:
    """The model's modules (dotted names, registration order = forward order) partitioned into its
    stages; the classifier (``find_head``) belongs to none."""
    names = stage_names(model)
    head, _ = find_head(model)
    groups: list[list[str]] = [[] for _ in names]
    current = 0
    for unit in _units(model, "", set(names)):
        if unit == head or head.startswith(unit + "."):
            continue
        groups[current].append(unit)
        if unit in names:
            current = min(names.index(unit) + 1, len(names) - 1)
    return groups


def _units(module: nn.Module, prefix: str, stages: set[str]) -> list[str]:
    """The largest sub-modules that neither contain a stage nor lie inside one, and the stages."""
    units = []
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        if full not in stages and any(s.startswith(full + ".") for s in stages):
            units += _units(child, full + ".", stages)
        else:
            units.append(full)
    return units


def stage_parameters(model: nn.Module, first: int) -> list[str]:
    """Names of the parameters in stages ``first``, ``first + 1``, ... (0-based), in order."""
    prefixes = tuple(f"{u}." for group in stage_groups(model)[first:] for u in group)
    return [n for n, _ in model.named_parameters() if n.startswith(prefixes)]


class StageTaps(nn.Module):
    """``model`` run to its classifier, returning the pooled features of ``stages`` (0-based
    indices, default all) concatenated along dim 1; ``widths`` after one call splits them."""

    def __init__(self, model: nn.Module, stages: Sequence[int] | None = None) -> None:
        super().__init__()
        self.model = model
        names = stage_names(model)
        self.stages = list(range(len(names)) if stages is None else stages)
        self._last = len(names) - 1
        self._names = names
        self.widths: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        caught: dict[int, Tensor] = {}
        hooks = [self.model.get_submodule(self._names[i]).register_forward_hook(
            lambda _m, _i, out, i=i: caught.__setitem__(i, _pool(out)))
            for i in self.stages if i != self._last]
        _, head = find_head(self.model)
        hooks.append(head.register_forward_pre_hook(
            lambda _m, args: caught.__setitem__(self._last, args[0].flatten(1))))
        try:
            self.model(x)
        finally:
            for h in hooks:
                h.remove()
        outs = [caught[i].float() for i in self.stages]
        self.widths = [o.shape[1] for o in outs]
        return torch.cat(outs, dim=1)


def _pool(out: Tensor) -> Tensor:
    return out.mean(dim=(2, 3)) if out.ndim == 4 else out.flatten(1)


def truncate(model: nn.Module, keep: int) -> nn.Module:
    """Cut ``model`` (in place) after its first ``keep`` stages: every module of the later stages
    becomes ``nn.Identity`` except the parameter-free ones after the last stage (the global
    pooling), so the classifier sees the pooled features of stage ``keep``. Returns ``model``."""
    groups, names = stage_groups(model), stage_names(model)
    if not 1 <= keep <= len(groups):
        raise ValueError(f"cannot keep {keep} stages of {type(model).__name__}: it has "
                         f"{len(groups)} ({', '.join(names)})")
    for group in groups[keep:]:
        for name in group:
            module = model.get_submodule(name)
            trailing = group is groups[-1] and group.index(name) > group.index(names[-1])
            stateful = any(True for _ in module.parameters()) or any(True for _ in module.buffers())
            if stateful or not trailing:
                set_submodule(model, name, nn.Identity())
    return model
