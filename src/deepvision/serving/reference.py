"""Which model to use, by reference: ``load_model("")`` → the newest trained model, a catalog
version, a bundle file, or a ``<scheme>:...`` URI (``runs:/<id>/model``,
``models:/<name>@<alias>``).

Only bundle files are read here (weights-only, rule 9). The newest/versioned catalog model and the
MLflow schemes need Kedro or MLflow, so the Kedro layer registers them (``register_model_source``)
and this module stays pure torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from torch import nn

from deepvision.models.bundle import load_model_bundle

ModelSource = Callable[[str], nn.Module]
_SOURCES: dict[str, ModelSource] = {}
# Kedro's version strings: 2026-12-02T01.02.03.456Z
VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z$")
CATALOG = "catalog"  # the source for "" (newest) and catalog versions
_URI = re.compile(r"^([a-z][a-z0-9+.-]+):(?!\\)")  # a scheme, not a Windows drive letter


def register_model_source(scheme: str, source: ModelSource) -> None:
    """Make ``<scheme>:...`` (or ``catalog``: "" and versions) loadable by ``load_model``."""
    _SOURCES[scheme] = source


def load_model(reference: str) -> nn.Module:
    """The model named by ``reference`` with its bundle ``meta`` (as ``model.meta``)."""
    scheme = _scheme(reference)
    if scheme is None:
        model, meta = load_model_bundle(reference)
        model.meta = meta
        return model
    if scheme not in _SOURCES:
        known = ", ".join(sorted(_SOURCES)) or "none registered (run inside the Kedro project)"
        raise ValueError(f"no model source for {reference!r}; known: {known}, or a bundle file")
    return _SOURCES[scheme](reference)


def _scheme(reference: str) -> str | None:
    if not reference or VERSION.match(reference):
        return CATALOG
    match = _URI.match(reference)
    if match and not Path(reference).exists():
        return match.group(1)
    return None
