"""Fixtures of the fault suite: the splits and the initial model are built once per session;
each test works in its own copy, so runs never see each other's records or checkpoints."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.faults.harness import kedro
from tests.scratch import make_project


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """A project whose splits and initial model exist (ingest, prepare, build: one run)."""
    project = make_project(tmp_path_factory.mktemp("built"))
    result = kedro(project, "run", "--env", "test", "--pipelines", "ingest,prepare,build")
    assert result.returncode == 0, result.stdout[-3000:]
    return project


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built project."""
    return Path(shutil.copytree(built, tmp_path / "project", symlinks=True))
