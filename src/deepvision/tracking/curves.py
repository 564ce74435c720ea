"""Per-epoch curves logged as each epoch ends, so the MLflow UI shows a training while it runs.

Design: the training nodes never import MLflow. The pipeline (``pipeline.py``) binds this
module's ``log_epoch`` to the node's ``on_epoch_end`` keyword, the same way ``tune`` injects its
trial callbacks; ``fit`` calls it with each epoch's record (under DDP in the launching process,
on rank 0's records). With no active run (tracking disabled, a notebook, a torchrun rank > 0) it
does nothing.
"""

from __future__ import annotations

from typing import Any

import mlflow


def log_epoch(record: dict[str, Any]) -> None:
    """The record's numbers as metrics of the active run at step = epoch."""
    if mlflow.active_run() is None:
        return
    mlflow.log_metrics({k: float(v) for k, v in record.items()
                        if k != "epoch" and v is not None}, step=int(record["epoch"]))

