"""A model bundle: architecture spec, weights and metadata in one file that rebuilds its model.

The bundle is ``{"spec": ModelSpec.to_dict(), "state_dict": ..., "meta": {...}}``, written with
``torch.save`` and read with ``torch.load(weights_only=True)`` (a file from elsewhere never runs
code on load), so ``meta`` may hold only plain values (None, bool, int, float, str, lists, tuples,
str-keyed dicts) and tensors.
``meta`` is free-form; ``load_backbone("checkpoint:...")`` reads ``mean``, ``std`` and
``input_size`` from it, and a compressed model's ``meta["compression"]`` says how to reshape the
freshly built dense model (pruned channels, precision, int8 graph) before its weights load.

``bundle_to_dict`` / ``model_from_bundle`` work without paths so a Kedro dataset can reuse them;
``save_checkpoint_bundle`` / ``load_model_bundle`` add the file.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepvision.files import save_atomic
from deepvision.models.registry import ModelSpec, build_from_spec

BUNDLE_KEYS = ("spec", "state_dict", "meta")
# Exact types: subclasses such as numpy.float64 or defaultdict are refused by a weights_only load.
_PLAIN = (type(None), bool, int, float, str)


def bundle_to_dict(model: nn.Module, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The bundle of a model built by ``create_model`` (its ``model.spec``) plus ``meta``."""
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise ValueError(f"{type(model).__name__} has no .spec; build it with "
                         "deepvision.models.create_model so the bundle can rebuild it")
    meta = dict(meta or {})
    _check_plain(meta, "meta")
    return {"spec": spec.to_dict(), "state_dict": model.state_dict(), "meta": meta}


def model_from_bundle(bundle: Mapping[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of ``bundle`` (registry name + arguments) and load its weights strictly."""
    missing = [k for k in BUNDLE_KEYS if k not in bundle]
    if missing:
        raise ValueError(f"not a model bundle: missing key(s) {', '.join(missing)} "
                         f"(expected {', '.join(BUNDLE_KEYS)})")
    model = build_from_spec(ModelSpec.from_dict(bundle["spec"]))
    record = bundle["meta"].get("compression")
    if record:  # pruned shapes, half precision, an int8 graph: see compression.steps.restore
        from deepvision.compression.steps import restore

        model = restore(model, record)
    model.load_state_dict(bundle["state_dict"], strict=True)
    return model, dict(bundle["meta"])


def bundle_size_mb(model: nn.Module) -> float:
    """Size in MiB of the bundle of ``model`` (with its ``meta``), serialised in memory."""
    buffer = io.BytesIO()
    torch.save(bundle_to_dict(model, getattr(model, "meta", None)), buffer)
    return buffer.getbuffer().nbytes / 2**20


def save_checkpoint_bundle(model: nn.Module, path: str | os.PathLike[str],
                           meta: Mapping[str, Any] | None = None) -> None:
    """Write the bundle of ``model`` to ``path`` atomically (temp file in the same folder, then
    ``os.replace``), so a crash never leaves a half-written checkpoint under the real name."""
    save_atomic(bundle_to_dict(model, meta), path)


def load_model_bundle(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Read a bundle written by ``save_checkpoint_bundle``: ``(model, meta)``, on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model bundle {str(path)!r} does not exist")
    bundle = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(bundle, Mapping):
        raise ValueError(f"{str(path)!r} holds a {type(bundle).__name__}, not a model bundle dict")
    return model_from_bundle(bundle)


def _check_plain(value: Any, where: str) -> None:
    # Fail when saving, naming the entry, rather than when a weights_only load refuses the file.
    if type(value) in (dict, OrderedDict):
        for k, v in value.items():
            if type(k) is not str:
                raise TypeError(f"{where} has a non-string key {k!r}")
            _check_plain(v, f"{where}[{k!r}]")
    elif type(value) in (list, tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    elif type(value) not in _PLAIN and not isinstance(value, torch.Tensor):
        raise TypeError(f"{where} is a {type(value).__name__}; a bundle's meta may hold only "
                        "None, bool, int, float, str, tensors, lists, tuples and str-keyed dicts")
