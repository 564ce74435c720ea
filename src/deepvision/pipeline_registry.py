"""Pipelines are discovered by ``find_pipelines``; the default run chains the stages on the
offline default data."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

DEFAULT_STAGES = ("ingest", "prepare", "build", "train", "evaluate", "fine_tune")


def register_pipelines() -> dict[str, Pipeline]:
    # Kedro 1.7 imports only the pipelines a run asks for; the default one needs all its stages.
    pipelines = find_pipelines(raise_errors=True)
    if all(name in pipelines for name in DEFAULT_STAGES):
        pipelines["__default__"] = sum((pipelines[n] for n in DEFAULT_STAGES), Pipeline([]))
    return pipelines
