"""Fixtures of the browser tests: the README's screenshot script, a scratch project with two tiny
tracked runs, and its MLflow UI. Servers listen on 127.0.0.1 and stop at teardown, pass or fail."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest

from tests.scratch import load_script


@pytest.fixture(scope="session")
def shots() -> ModuleType:
    """scripts/screenshots.py: the tests drive the functions that draw the README's images."""
    return load_script("screenshots")


@pytest.fixture(scope="session")
def screenshots_dir(tmp_path_factory) -> Path:
    """Where the screenshots go: $UI_SCREENSHOTS (``make test-ui``: build/test-ui), else a tmp
    folder. Look at them: a page can hold the right text and still draw nothing useful."""
    folder = os.environ.get("UI_SCREENSHOTS")
    path = Path(folder).resolve() if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def tracked(shots, tmp_path_factory) -> tuple[Path, str, list[str]]:
    """A scratch project after two tiny tracked runs: (project, experiment id, run ids)."""
    project = shots.make_project(tmp_path_factory.mktemp("project"))
    experiment_id, run_ids = shots.tracked_runs(project, shots.COMPARED_LRS)
    return project, experiment_id, run_ids


@pytest.fixture(scope="module")
def mlflow_url(shots, tracked, tmp_path_factory):
    project, _, _ = tracked
    log = tmp_path_factory.mktemp("logs") / "mlflow.log"
    with shots.mlflow_ui(project / "mlflow.db", log) as url:
        yield url
