"""What a failure says about the team's servers: the MLflow tracking server or the database
behind it (and the Optuna study) stopped answering."""

from __future__ import annotations

import re

import requests
import sqlalchemy
from mlflow.exceptions import MlflowException

# How MLflow's REST client words a server that is gone (retries exhausted) or failing (5xx); 4xx
# answers are the caller's mistake and keep their own message.
SERVER_DOWN = re.compile(r"error code 5\d\d|failed with exception|5\d\d error responses")


def lost_server(error: BaseException) -> str | None:
    """One line saying which server a failure lost and what to do, or None for other failures."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        what = ("database" if isinstance(error, sqlalchemy.exc.OperationalError) else
                "MLflow server" if isinstance(error, requests.exceptions.ConnectionError) or (
                    isinstance(error, MlflowException) and SERVER_DOWN.search(first))
                else None)
        if what is not None:
            return (f"Lost the team's {what} ({first}). Start it again (`make team-up` on this "
                    "machine, or ask whoever runs it) and rerun the same command: finished runs "
                    "and versions are kept, and a tune study resumes (the interrupted trial is "
                    "marked FAIL after 2 x tune.heartbeat_s).")
        error = error.__cause__ or error.__context__
    return None
