"""A scratch copy of the project and ``kedro`` run inside it, so a run never touches the real
data/ or mlflow.db: shared by the end-to-end test, the browser tests and scripts/screenshots.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# No telemetry; no MLflow job runner (a pool of huey workers the UI pages here do not use).
QUIET_ENV = {"KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
             "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def make_project(path: Path) -> Path:
    """The project's config in an empty folder, so a run never touches the real data/ or mlflow.db
    (as in tests/test_run.py)."""
    shutil.copytree(ROOT / "conf", path / "conf", ignore=shutil.ignore_patterns("local"))
    (path / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, path / name)
    (path / "src").mkdir()  # Kedro checks it exists; the package itself is installed
    return path


def kedro(project: Path, *args: str, timeout: float = 300) -> str:
    """``kedro <args>`` in ``project``; its output, or an error carrying the output's end."""
    result = subprocess.run([sys.executable, "-m", "kedro", *args], cwd=project,
                            env={**os.environ, **QUIET_ENV}, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"kedro {' '.join(args)} failed:\n{result.stdout[-2000:]}"
                           f"\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr
