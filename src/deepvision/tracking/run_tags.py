"""The run's name and searchable tags: pipeline · model · data source, and the git commit under
MLflow's own tag (``mlflow.source.git.commit``), which the MLflow UI shows with the run."""

from __future__ import annotations

import logging
import subprocess

import mlflow
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_RUN_NAME

log = logging.getLogger(__name__)


def tag_active_run(pipeline: str) -> bool:
    """Name and tag the active run, and log where to open it; False when no run is active."""
    run = mlflow.active_run()
    if run is None:
        return False
    describe_active_run(run_tags(pipeline))
    log.info("MLflow run %s: open it with `make mlflow`, then http://127.0.0.1:5000/#/"
             "experiments/%s/runs/%s?workflowType=machine_learning", run.info.run_id,
             run.info.experiment_id, run.info.run_id)
    return True


def describe_active_run(tags: dict[str, str]) -> None:
    """Set ``tags`` (pipeline, model, source, ...) and rename the run from all it now has, so
    the name follows what lineage finds out during the run (the model file actually loaded)."""
    run = mlflow.active_run()
    if run is None or not tags:
        return
    current = {**mlflow.get_run(run.info.run_id).data.tags, **tags}
    mlflow.set_tags({**tags, MLFLOW_RUN_NAME: run_name(current)})


def run_tags(pipeline: str) -> dict[str, str]:
    """Tags that make runs searchable from the start: pipeline and git commit (model and source
    come from lineage, ``tracking.lineage``)."""
    commit = git_commit()
    return {"pipeline": pipeline} | ({MLFLOW_GIT_COMMIT: commit} if commit else {})


def run_name(tags: dict[str, str]) -> str:
    """``pipeline · model · source``, empty parts left out."""
    return " · ".join(v for v in (tags.get("pipeline"), tags.get("model"), tags.get("source"))
                      if v)


def git_commit() -> str | None:
    """The full hash of the checked-out commit (what MLflow records), None outside a repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
