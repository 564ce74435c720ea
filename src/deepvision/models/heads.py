"""Classifier heads and freezing: swap the last classifier layer, freeze or unfreeze a sub-module.

``replace_head`` finds the classifier generically — the last ``nn.Linear`` (or 1×1 ``nn.Conv2d``, as
in SqueezeNet) in registration order — which covers torchvision's ``fc``, ``classifier[-1]``,
``heads.head`` and ``head`` as well as this package's own models.
"""

from __future__ import annotations

from torch import nn

# _NormBase covers every layer with running statistics (BatchNorm*, SyncBatchNorm, InstanceNorm*);
# the stateless norms are included so "a frozen part has all its norm layers in eval" always holds.
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)


def find_head(model: nn.Module) -> tuple[str, nn.Linear | nn.Conv2d]:
    """The dotted name and module of the last classifier layer of ``model``."""
    candidates = [(name, m) for name, m in model.named_modules() if _is_classifier_layer(m)]
    if not candidates:
        raise ValueError(f"no Linear or 1×1 Conv2d classifier found in {type(model).__name__}")
    return candidates[-1]


def head_inputs(head: nn.Linear | nn.Conv2d) -> int:
    """How many features the classifier layer ``head`` takes."""
    return head.in_features if isinstance(head, nn.Linear) else head.in_channels


def _is_classifier_layer(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1))


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the last classifier layer by a freshly initialised one with ``num_classes`` outputs.

    Returns ``model`` (changed in place).
    """
    name, old = find_head(model)
    factory = {"device": old.weight.device, "dtype": old.weight.dtype}
    bias = old.bias is not None
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, num_classes, bias=bias, **factory)
    else:
        new = nn.Conv2d(old.in_channels, num_classes, 1, bias=bias, **factory)
    set_submodule(model, name, new)
    return model


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the sub-module at dotted path ``name`` (``"classifier.3"``, ``"heads.head"``)."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients into ``module`` and put its norm layers in eval mode (running stats fixed).

    ``model.train()`` switches the norm layers back to training mode: a caller that freezes part of
    a model must call ``freeze`` again (or set those layers to eval) after each ``model.train()``.
    """
    for p in module.parameters():
        p.requires_grad_(False)
    for m in module.modules():
        if isinstance(m, NORM_LAYERS):
            m.eval()
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Let gradients into ``module`` again and return its norm layers to ``module``'s own mode."""
    for p in module.parameters():
        p.requires_grad_(True)
    for m in module.modules():
        if isinstance(m, NORM_LAYERS):
            m.train(module.training)
    return module
