"""End to end: ``kedro run --env test`` in a scratch copy of the project, then the MLflow store."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.scratch import make_project


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"))


def kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    return subprocess.run([sys.executable, "-m", "kedro", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)


def test_default_pipeline_runs_and_is_tracked(project):
    result = kedro(project, "run", "--env", "test")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    [metrics_file] = (project / "data/08_reporting/metrics.json").glob("*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_loss"] > 0

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "deepvision"]
    [run] = client.search_runs([experiment.experiment_id])
    assert run.data.params["train.epochs"] == "2"
    assert run.data.params["model.name"] == "resnet20"
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert {"scratch.test_accuracy", "linear_probe.test_accuracy",
            "fine_tune.test_accuracy"} <= set(run.data.metrics)
    for curve in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        history = client.get_metric_history(run.info.run_id, curve)
        assert [m.step for m in history] == [1, 2]


def test_wrong_parameter_fails_before_any_data_is_written(tmp_path):
    project = make_project(tmp_path)
    result = kedro(project, "run", "--env", "test", "--params", "model.name=resnet9000")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unknown model 'resnet9000'" in output and "resnet20" in output
    assert not (project / "data").exists()


def test_registry_lists_every_stage(project):
    result = kedro(project, "registry", "list")
    assert result.returncode == 0, result.stderr
    for name in ("__default__", "ingest", "prepare", "build", "train", "evaluate"):
        assert f"- {name}" in result.stdout


def test_transfer_map_runs_on_digits(project):
    """Depends on the default run above for its splits. Its time (under a minute on conf/test on
    a quiet machine) is not asserted: timings belong in benchmarks; a loaded machine took 61 s."""
    result = kedro(project, "run", "--env", "test", "--pipelines", "transfer_map")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [table] = (project / "data/08_reporting/transfer_map.csv").glob("*/transfer_map.csv")
    assert len(table.read_text().splitlines()) == 1 + 2 * 4  # header, 2 fractions × 4 strategies
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "deepvision"]
    cells = client.search_runs([experiment.experiment_id],
                               filter_string="tags.strategy = 'last_half'")
    assert len(cells) == 2 and all("mlflow.parentRunId" in r.data.tags for r in cells)


def test_torchrun_ranks_write_one_model_version_and_one_mlflow_run(project):
    """Depends on the default run above for its splits and initial model."""
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs_before = len(client.search_runs(experiments))
    versions = project / "data/06_models/trained_model.pt"
    before = set(versions.iterdir())
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run([str(torchrun), "--nproc-per-node", "2", "-m", "kedro", "run",
                             "--env", "test", "--pipelines", "train"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert len(set(versions.iterdir()) - before) == 1
    assert len(client.search_runs(experiments)) == runs_before + 1
