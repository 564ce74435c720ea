"""Team mode against real servers on loopback: PostgreSQL and an MLflow tracking server started
by scripts/team.py (``make team-up``) in a scratch project, one `kedro run --env team`, two tune
workers sharing one study, and the database stopped in the middle of a run."""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.scratch import make_project

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "team.py"
TINY = "ingest,prepare,build,train,evaluate"
# Each MLflow call fails at once instead of retrying for minutes (the default suits a real team).
QUIET = {"KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
         "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}


def _team_module():
    spec = importlib.util.spec_from_file_location("team", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _can_have_postgres() -> bool:
    installed = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    return bool(installed) or (os.geteuid() == 0 and shutil.which("apt-get") is not None)


pytestmark = [
    pytest.mark.team,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not _can_have_postgres(), reason="Debian's postgresql is not installed "
                       "and cannot be (needs root and apt-get): apt-get install postgresql"),
]


@pytest.fixture(scope="module")
def team():
    # The server runs as the `postgres` user, which cannot enter pytest's private tmp folders.
    folder = Path(tempfile.mkdtemp(prefix="dv-team-"))
    folder.chmod(0o755)
    project = make_project(folder)
    shutil.copy(ROOT / "conf/test/parameters.yml", project / "conf/team/parameters_tiny.yml")
    servers = _team_module().Team(project)
    _script("up", project)
    try:
        yield project, servers, {**os.environ, **QUIET, **servers.env()}
    finally:
        _script("down", project)
        shutil.rmtree(folder, ignore_errors=True)


def _script(command: str, project: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), command, "--project", str(project)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def _kedro(project: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kedro", "run", "--env", "team", *args],
                            cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    out, _ = process.communicate(timeout=600)
    return process.returncode, out


def _tune_args(study: str, n_trials: int, epochs: int, heartbeat_s: int = 60) -> tuple[str, ...]:
    return ("--pipelines", "tune", "--params",
            f"tune.study_name={study},tune.n_trials={n_trials},tune.epochs={epochs},"
            f"tune.n_startup_trials=1,tune.heartbeat_s={heartbeat_s}")


def _client(env: dict) -> MlflowClient:
    return MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])


def _experiment_id(client: MlflowClient) -> str:
    return client.get_experiment_by_name("deepvision").experiment_id


def _study(env: dict, name: str) -> optuna.Study:
    url = (f"postgresql+psycopg://{env['PGUSER']}:{env['PGPASSWORD']}@{env['PGHOST']}:"
           f"{env['PGPORT']}/optuna")
    return optuna.load_study(study_name=name, storage=url)


def test_a_team_run_is_on_the_server(team):
    project, _, env = team
    code, out = _finish(_kedro(project, env, "--pipelines", TINY))
    assert code == 0, out[-4000:]

    client = _client(env)
    [run] = client.search_runs([_experiment_id(client)])
    assert run.data.params["train.epochs"] == "2"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2]
    assert 0.0 <= run.data.metrics["test_accuracy"] <= 1.0
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # served, not a local path
    folders = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "model" in folders
    served = project / "data/team/mlartifacts"
    assert list(served.rglob("*.pt")), "the model bundle is not in the server's artifact root"
    assert not (project / "mlflow.db").exists() and not (project / "mlartifacts").exists()


def test_two_tune_workers_share_one_study(team):
    """Needs the splits of the run above."""
    project, _, env = team
    n_trials = 4
    workers = [_kedro(project, env, *_tune_args("shared", n_trials, epochs=1)) for _ in range(2)]
    for worker in workers:
        code, out = _finish(worker)
        assert code == 0, out[-4000:]

    trials = _study(env, "shared").get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == n_trials
    assert "RUNNING" not in [t.state.name for t in trials]

    client = _client(env)
    experiment = _experiment_id(client)
    parents = client.search_runs([experiment], "tags.pipeline = 'tune'")
    assert len(parents) == 2
    children = client.search_runs([experiment], "tags.study_name = 'shared'")
    numbers = [int(c.data.tags["trial_number"]) for c in children]
    assert sorted(numbers) == sorted(t.number for t in finished)  # each trial once, no extra
    assert {c.data.tags["mlflow.parentRunId"] for c in children} <= {
        p.info.run_id for p in parents}
    for child in children:
        assert child.info.status == "FINISHED" and "value" in child.data.metrics
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")] == [1]
    # The worker that ends last sees the whole study.
    seen = [p.data.metrics["n_complete"] + p.data.metrics["n_pruned"] for p in parents]
    assert max(seen) == n_trials
    for parent in parents:
        names = {a.path for a in client.list_artifacts(parent.info.run_id, "tune")}
        assert any(name.endswith("tune_trials.csv") for name in names), names


def test_database_stopped_mid_run_is_named_and_the_next_run_recovers(team):
    """Needs the splits of the first run above."""
    project, servers, env = team
    client = _client(env)
    args = _tune_args("fault", n_trials=3, epochs=3, heartbeat_s=1)
    worker = _kedro(project, env, *args)
    deadline = time.monotonic() + 300
    while not client.search_runs([_experiment_id(client)], "tags.study_name = 'fault'"):
        assert worker.poll() is None and time.monotonic() < deadline, "no trial started"
        time.sleep(0.5)
    servers.stop_postgres()
    code, out = _finish(worker)
    assert code != 0
    assert "Lost the team's" in out and "make team-up" in out, out[-4000:]

    _script("up", project)
    time.sleep(3)  # over 2 x tune.heartbeat_s: the interrupted trial is now stale
    code, out = _finish(_kedro(project, env, *args))
    assert code == 0, out[-4000:]
    trials = _study(env, "fault").get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    assert sum(state in ("COMPLETE", "PRUNED") for state in states) == 3, states
    assert "RUNNING" not in [t.state.name for t in trials]

