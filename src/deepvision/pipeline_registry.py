"""Pipelines are discovered by ``find_pipelines``; the default run chains the stages on the
offline default data."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

DEFAULT_STAGES = ("ingest", "prepare", "build", "train", "evaluate")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT_STAGES), Pipeline([]))
    return pipelines
