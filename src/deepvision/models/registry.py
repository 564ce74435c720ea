"""Architectures by name: ``register_model`` / ``create_model`` / ``list_models`` (after timm).

Every factory takes ``num_classes`` and ``in_channels`` plus its own keyword arguments and returns
an ``nn.Module``. ``create_model`` records the name and arguments on the module (``model.spec``) so
a checkpoint can rebuild it from the file alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

ModelFactory = Callable[..., nn.Module]
_REGISTRY: dict[str, ModelFactory] = {}
_PRETRAINED: set[str] = set()  # names whose factory loads pretrained weights
TORCHVISION_PREFIX = "tv:"


@dataclass(frozen=True)
class ModelSpec:
    """What rebuilds a model: its registry name and the arguments it was created with."""

    name: str
    num_classes: int
    in_channels: int
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "num_classes": self.num_classes,
                "in_channels": self.in_channels, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        return cls(d["name"], int(d["num_classes"]), int(d["in_channels"]),
                   dict(d.get("kwargs", {})))


def register_model(fn: ModelFactory | None = None, *, name: str | None = None,
                   pretrained: bool = False):
    """Register ``fn`` under ``name`` (default: its ``__name__``); usable bare or with arguments.
    ``pretrained`` marks factories that load pretrained weights (not built from scratch)."""

    def add(f: ModelFactory) -> ModelFactory:
        key = name or f.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is registered twice")
        _REGISTRY[key] = f
        if pretrained:
            _PRETRAINED.add(key)
        return f

    return add(fn) if fn is not None else add


def register_models(*, pretrained: bool = False, **factories: ModelFactory) -> None:
    """Register each factory under its keyword, so a variant's name is written once:
    ``register_models(resnet20=partial(ResNet, BasicBlock, [3, 3, 3], THIN), ...)``."""
    for key, factory in factories.items():
        register_model(factory, name=key, pretrained=pretrained)


def list_models(pretrained: bool | None = None) -> list[str]:
    """The names ``create_model`` knows (``tv:<name>`` also accepts any torchvision classifier);
    ``pretrained=False`` lists only the from-scratch architectures, ``True`` only the others."""
    _import_families()
    return sorted(n for n in _REGISTRY if pretrained is None or (n in _PRETRAINED) == pretrained)


def check_model_name(name: str) -> None:
    """Fail with the list of known names if ``name`` is not a model."""
    _import_families()
    if name.startswith(TORCHVISION_PREFIX):
        from deepvision.models.torchvision_models import check_torchvision_name

        check_torchvision_name(name[len(TORCHVISION_PREFIX):])
    elif name not in _REGISTRY:
        raise ValueError(
            f"unknown model {name!r} (model.name). Known models: {', '.join(list_models())}; "
            f"or '{TORCHVISION_PREFIX}<name>' for any torchvision classification model."
        )


def create_model(name: str, num_classes: int, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` and attach its ``ModelSpec`` as ``model.spec``."""
    check_model_name(name)
    if name.startswith(TORCHVISION_PREFIX):
        from deepvision.models.torchvision_models import create_torchvision_model

        model = create_torchvision_model(name[len(TORCHVISION_PREFIX):], num_classes,
                                         in_channels, **kwargs)
    else:
        model = _REGISTRY[name](num_classes=num_classes, in_channels=in_channels, **kwargs)
    model.spec = ModelSpec(name, num_classes, in_channels, dict(kwargs))
    return model


def build_from_spec(spec: ModelSpec) -> nn.Module:
    """Rebuild an (untrained) model from its spec."""
    return create_model(spec.name, spec.num_classes, spec.in_channels, **spec.kwargs)


def _import_families() -> None:
    # Importing the family modules runs their @register_model decorators.
    import deepvision.models.families  # noqa: F401


@dataclass(frozen=True)
class ModelConfig:
    """``params:model``: which architecture to build, its extra arguments, and the init seed."""

    name: str = "resnet20"                              # a registry name, or tv:<torchvision name>
    kwargs: dict[str, Any] = field(default_factory=dict)  # extra factory arguments
    seed: int = 0                                       # weight-initialisation seed

    def __post_init__(self) -> None:
        check_model_name(self.name)

    def create(self, num_classes: int, in_channels: int) -> nn.Module:
        """The model, its weights initialised from ``seed`` (the global RNG state is untouched)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return create_model(self.name, num_classes, in_channels, **self.kwargs)
