"""Numbers in kedro-mlflow's metric format: ``{"step": s, "value": v}`` entries, so nodes return
plain values and never import MLflow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def as_metrics(values: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """One value per metric, at step 0 (``MlflowMetricsHistoryDataset``)."""
    return {k: {"step": 0, "value": float(v)} for k, v in values.items()}


def as_curves(history: Iterable[Mapping[str, Any]], keys: Iterable[str],
              keep_empty: bool = False) -> dict[str, list[dict[str, float]]]:
    """Per-epoch curves (step = epoch) of ``keys`` from a history of epoch records; a key no record
    has is left out unless ``keep_empty``."""
    history = list(history)
    curves = {k: [{"step": int(r["epoch"]), "value": float(r[k])} for r in history if k in r]
              for k in keys}
    return {k: v for k, v in curves.items() if v or keep_empty}


def history_metrics(history: Mapping[str, Any], keys: Iterable[str]) -> tuple[dict, dict]:
    """A training's ``keys`` curves (from ``history["history"]``) and its other entries as a
    summary at step 0: the two MLflow metric datasets of a training pipeline."""
    summary = {k: v for k, v in history.items() if k != "history"}
    return as_curves(history["history"], keys), as_metrics(summary)
