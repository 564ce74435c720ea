"""Helpers of the fault suite: real ``kedro run`` subprocesses on ``conf/test`` in scratch
project copies, asserted on the MLflow store (``MlflowClient``) and on what the user reads."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "OMP_NUM_THREADS": "1"}
FAST = "train.epochs=1,train.progress=line"


def kedro(project: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``kedro <args>`` in ``project``; its log and errors together in ``stdout``."""
    return subprocess.run([sys.executable, "-m", "kedro", *args], cwd=project, env=ENV,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def start_kedro(project: Path, *args: str) -> subprocess.Popen:
    """``kedro <args>`` started in the background, its output going to ``project/kedro.log``
    (a file, not a pipe: a pipe nobody reads would block the run once full)."""
    with open(project / "kedro.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "kedro", *args], cwd=project,
                                   env=ENV, stdout=log, stderr=subprocess.STDOUT, text=True)
    process.cwd = project  # where interrupt_when finds the log
    return process


def interrupt_when(process: subprocess.Popen, ready: Callable[[], bool], sig: int,
                   timeout: float = 240) -> str:
    """Send ``sig`` to ``process`` once ``ready()`` holds; its output once it has ended."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "the run never reached the point to interrupt"
        time.sleep(0.5)
    os.kill(process.pid, sig)
    process.wait(timeout=120)
    return (Path(process.cwd) / "kedro.log").read_text()


def client(project: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def runs(project: Path, filter_string: str = "") -> list[Run]:
    """Every run of the project's store, newest first."""
    c = client(project)
    experiments = [e.experiment_id for e in c.search_experiments()]
    return c.search_runs(experiments, filter_string, order_by=["attributes.start_time DESC"])


def curve(project: Path, run_id: str, key: str) -> list[int]:
    """The steps of metric ``key`` of a run, in order."""
    return sorted(m.step for m in client(project).get_metric_history(run_id, key))


def one_line_error(output: str, *needles: str) -> str:
    """The one output line that carries every needle (it must exist)."""
    lines = [line for line in output.splitlines() if all(n in line for n in needles)]
    assert lines, f"no line with {needles} in:\n{output[-3000:]}"
    return lines[0]
