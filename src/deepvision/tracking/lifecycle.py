"""No run is ever left RUNNING: the process that owns a run is recorded with it (host and pid
tags), SIGINT/SIGTERM end it KILLED, a rejected start ends it FAILED with the error as a tag, and
the next ``kedro run`` on the same host closes the runs whose process is gone (``kill -9``, OOM).

Runs started elsewhere are left alone: their process cannot be checked from here.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

log = logging.getLogger(__name__)

HOST_TAG = "deepvision.host"
PID_TAG = "deepvision.pid"
ERROR_TAG = "deepvision.error"
CLOSED_TAG = "deepvision.closed_because"


def owner_tags() -> dict[str, str]:
    """Who runs this process: the tags a run (and a trial's child run) is started with."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def mark_active_run() -> None:
    """Tag the active run with this process, so a later run can tell if it was orphaned."""
    if mlflow.active_run() is not None:
        mlflow.set_tags(owner_tags())


def close_orphaned_runs(client: MlflowClient | None = None) -> list[str]:
    """Mark FAILED every RUNNING run of this host whose process is gone, and the RUNNING children
    of those runs; one log line each. Returns their ids."""
    client = client or MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    running = client.search_runs(experiments, "attributes.status = 'RUNNING'", max_results=5000)
    host, me = socket.gethostname(), os.getpid()
    dead = {r.info.run_id for r in running if r.data.tags.get(HOST_TAG) == host
            and int(r.data.tags.get(PID_TAG, me)) != me
            and not process_alive(int(r.data.tags[PID_TAG]))}
    dead |= {r.info.run_id for r in running if r.data.tags.get(MLFLOW_PARENT_RUN_ID) in dead}
    for run in running:
        if run.info.run_id in dead:
            why = (f"process {run.data.tags.get(PID_TAG, '?')} on {host} ended without closing "
                   "the run (killed or crashed)")
            client.set_tag(run.info.run_id, CLOSED_TAG, why)
            client.set_terminated(run.info.run_id, "FAILED")
            log.warning("MLflow run %s (%s) was left RUNNING: %s; marked FAILED.",
                        run.info.run_id, run.info.run_name, why)
    return sorted(dead)


def fail_active_run(error: BaseException) -> None:
    """End the active run FAILED with ``error`` as a tag (a rejected parameter set, a missing
    input): the record says why nothing ran instead of showing an empty FINISHED run."""
    if mlflow.active_run() is None:
        return
    mlflow.set_tag(ERROR_TAG, f"{type(error).__name__}: {error}"[:5000])
    _end_all(RunStatus.FAILED)


def _end_all(status: int) -> None:
    # The fluent stack can hold the same run more than once (kedro-mlflow's restarts); what is
    # left on it is ended FINISHED at exit, so empty it, as kedro-mlflow's on_pipeline_error does.
    while mlflow.active_run() is not None:
        mlflow.end_run(RunStatus.to_string(status))


def end_runs_on_signals() -> None:
    """SIGINT and SIGTERM end the active run (and its RUNNING children) KILLED, then stop the
    process as they would have (KeyboardInterrupt, exit status 128 + signal)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)


def _on_signal(signum: int, _frame: Any) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second Ctrl-C stops at once
    run = mlflow.active_run()
    if run is not None:
        try:
            _kill_children(run.info.run_id, run.info.experiment_id)
            _end_all(RunStatus.KILLED)
            log.warning("Stopped by %s: MLflow run %s marked KILLED.",
                        signal.Signals(signum).name, run.info.run_id)
        except Exception as e:  # never hide the interruption behind a tracking error
            log.warning("Stopped by %s; could not close MLflow run %s: %s",
                        signal.Signals(signum).name, run.info.run_id, e)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    sys.exit(128 + signum)


def _kill_children(run_id: str, experiment_id: str) -> None:
    client = MlflowClient()
    children = client.search_runs(
        [experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{run_id}' and "
        "attributes.status = 'RUNNING'")
    for child in children:
        client.set_terminated(child.info.run_id, "KILLED")


CHECKPOINT_TAG = "checkpoint"
RESUMED_FROM_TAG = "resumed_from"


def tag_checkpoint(train: dict[str, Any]) -> None:
    """Tag the active run with the checkpoint file it writes; with ``train.resume`` also link it
    to the latest earlier run of that checkpoint (``resumed_from``: the run it continues)."""
    run = mlflow.active_run()
    if run is None or not train.get("checkpoint_dir"):
        return
    path = str((Path(train["checkpoint_dir"]) / f"{train.get('run_name', 'train')}.pt").resolve())
    mlflow.set_tag(CHECKPOINT_TAG, path)
    if not train.get("resume") or not Path(path).exists():
        return
    earlier = MlflowClient().search_runs(
        [run.info.experiment_id], f"tags.{CHECKPOINT_TAG} = '{path}'",
        order_by=["attributes.start_time DESC"], max_results=2)
    earlier = [r for r in earlier if r.info.run_id != run.info.run_id]
    if earlier:
        mlflow.set_tag(RESUMED_FROM_TAG, earlier[0].info.run_id)
        log.info("Resuming the training of MLflow run %s (tag %s).", earlier[0].info.run_id,
                 RESUMED_FROM_TAG)
