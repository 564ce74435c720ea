"""The run's name and searchable tags: pipeline · model · data source, and the git commit under
MLflow's own tag (``mlflow.source.git.commit``), which the MLflow UI shows with the run."""

from __future__ import annotations

import logging
import subprocess
from typing import Any

import mlflow
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_RUN_NAME

log = logging.getLogger(__name__)


def tag_active_run(pipeline: str, params: dict[str, Any]) -> bool:
    """Name and tag the active run, and log where to open it; False when no run is active."""
    run = mlflow.active_run()
    if run is None:
        return False
    tags = run_tags(pipeline, params)
    mlflow.set_tags({**tags, MLFLOW_RUN_NAME: run_name(tags)})
    log.info("MLflow run %s: open it with `make mlflow`, then http://127.0.0.1:5000/#/"
             "experiments/%s/runs/%s?workflowType=machine_learning", run.info.run_id,
             run.info.experiment_id, run.info.run_id)
    return True


def run_tags(pipeline: str, params: dict[str, Any]) -> dict[str, str]:
    """Tags that make runs searchable: pipeline, data source, model and git commit."""
    ingest, model = params.get("ingest") or {}, params.get("model") or {}
    source = ingest.get("name") or ingest.get("source") or ""
    tags = {"pipeline": pipeline, "source": str(source), "model": str(model.get("name", ""))}
    commit = git_commit()
    return tags | ({MLFLOW_GIT_COMMIT: commit} if commit else {})


def run_name(tags: dict[str, str]) -> str:
    """``pipeline · model · source``, empty parts left out."""
    return " · ".join(v for v in (tags["pipeline"], tags.get("model"), tags.get("source")) if v)


def git_commit() -> str | None:
    """The full hash of the checked-out commit (what MLflow records), None outside a repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
