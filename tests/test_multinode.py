"""Several machines rehearsed on one: two ``torchrun --nnodes 2`` launches (one per "node", one
process each) meet at a c10d rendezvous on loopback and train from the train split stored as
shards; one MLflow run, one model version, the same weights on both ranks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.scratch import make_project

SHARDED = """train_split:  # streamed: each rank reads its share of the shards
  type: deepvision.io.ShardsDataset
  filepath: data/05_model_input/train_shards
  shard_size: 64
"""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_train_from_shards_into_one_run(tmp_path):
    project = make_project(tmp_path)
    (project / "conf/test/catalog_shards.yml").write_text(SHARDED)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    kedro = [sys.executable, "-m", "kedro", "run", "--env", "test"]
    prepared = subprocess.run([*kedro, "--pipelines", "ingest,prepare,build"], cwd=project,
                              env=env, capture_output=True, text=True, timeout=600)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    assert (project / "data/05_model_input/train_shards/index.json").exists()

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs_before = len(client.search_runs(experiments))
    endpoint = f"127.0.0.1:{_free_port()}"
    torchrun = Path(sys.executable).with_name("torchrun")
    logs = [tmp_path / f"node{i}.log" for i in range(2)]
    # Output to files, not pipes: a node blocked on a full pipe stalls the other in a collective.
    nodes = [subprocess.Popen([str(torchrun), "--nnodes", "2", "--nproc-per-node", "1",
                               "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
                               "--rdzv-id", "multinode-test", "-m", "kedro", "run", "--env",
                               "test", "--pipelines", "train"], cwd=project, env=env,
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
             for log in logs]
    _wait(nodes, timeout=600)
    outputs = [log.read_text() for log in logs]
    for node, out in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, out[-4000:]

    assert len(list((project / "data/06_models/trained_model.pt").iterdir())) == 1
    assert len(client.search_runs(experiments)) == runs_before + 1
    assert sum("Weights identical on all 2 ranks." in out for out in outputs) == 1


def _wait(procs: list[subprocess.Popen], timeout: float, grace: float = 60) -> None:
    """Wait for every process; once one has failed (or ``timeout`` passed), give the others
    ``grace`` seconds to notice and then kill them, so a failed node cannot hang the test."""
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs):
        if any(p.returncode not in (None, 0) for p in procs):
            deadline = min(deadline, time.monotonic() + grace)
        if time.monotonic() > deadline:
            for p in procs:
                p.kill()
            break
        time.sleep(1)
    for p in procs:
        p.wait()
