"""Runs are never left RUNNING: orphans of a dead process are closed, live ones are not."""

import os
import socket

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from deepvision.tracking import lifecycle


@pytest.fixture
def client(tmp_path):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    yield MlflowClient()
    mlflow.set_tracking_uri(previous)


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_runs_of_a_dead_process_are_failed_with_their_children(client):
    experiment = client.create_experiment("e")
    host = socket.gethostname()
    dead = client.create_run(experiment, tags={lifecycle.HOST_TAG: host,
                                               lifecycle.PID_TAG: str(_dead_pid())})
    child = client.create_run(experiment, tags={"mlflow.parentRunId": dead.info.run_id})
    alive = client.create_run(experiment, tags={lifecycle.HOST_TAG: host,
                                                lifecycle.PID_TAG: str(os.getppid())})
    elsewhere = client.create_run(experiment, tags={lifecycle.HOST_TAG: "another-host",
                                                    lifecycle.PID_TAG: "1"})
    closed = lifecycle.close_orphaned_runs(client)
    assert closed == sorted([dead.info.run_id, child.info.run_id])
    status = {r: client.get_run(r).info.status for r in
              (dead.info.run_id, child.info.run_id, alive.info.run_id, elsewhere.info.run_id)}
    assert list(status.values()) == ["FAILED", "FAILED", "RUNNING", "RUNNING"]
    assert "killed or crashed" in client.get_run(dead.info.run_id).data.tags[
        lifecycle.CLOSED_TAG]


def test_a_rejected_start_ends_the_active_run_failed_with_the_error(client):
    mlflow.set_experiment("e")
    with mlflow.start_run() as run:
        lifecycle.fail_active_run(ValueError("train.epochs=0 is out of range"))
        assert mlflow.active_run() is None
    finished = client.get_run(run.info.run_id)
    assert finished.info.status == "FAILED"
    assert "train.epochs=0" in finished.data.tags[lifecycle.ERROR_TAG]
