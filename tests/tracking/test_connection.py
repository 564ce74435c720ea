"""The line that names a lost team server (``LostServerHook``)."""

import sqlalchemy
from mlflow.exceptions import MlflowException

from deepvision.tracking.connection import lost_server


def test_lost_server_names_the_database_and_ignores_other_errors():
    try:
        try:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, OSError("connection refused"))
        except sqlalchemy.exc.OperationalError as e:
            raise RuntimeError("trial 3 failed") from e
    except RuntimeError as e:
        chained = e
    assert "Lost the team's database" in lost_server(chained)
    assert lost_server(ValueError("bad value")) is None


def test_lost_server_names_a_failing_mlflow_server_but_not_a_bad_request():
    gone = MlflowException("API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/log-batch "
                           "failed with error code 500 != 200. Response body: ''")
    assert "Lost the team's MLflow server" in lost_server(gone)
    assert lost_server(MlflowException("API request to ... failed with error code 400")) is None
