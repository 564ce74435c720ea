"""The MLflow inference model: logged with a signature and an input example, registered by name,
loaded in a plain Python process from its own code, and served over real HTTP with the answers
``predict`` gives."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from PIL import Image

from deepvision.models import create_model
from deepvision.serving import Predictor, image_files, label_files, load_model, preprocessing_meta
from deepvision.tracking import weight_source
from deepvision.tracking.inference_model import NAME, log_inference_model


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A grey 28×28 model logged (and registered) in a fresh SQLite store; a colour JPEG."""
    root = tmp_path_factory.mktemp("inference")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    torch.manual_seed(0)
    model = create_model("lenet5", 3, 1)
    model.meta = preprocessing_meta(("cat", "dog", "owl"), (28, 28), (0.4,), (0.3,))
    mlflow.set_experiment(experiment_name="t")
    with mlflow.start_run() as run:
        model_uri = log_inference_model(model, register_as="tiny")
    rgb = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(root / "photo.jpg", quality=90)
    yield {"uri": uri, "model_uri": model_uri, "run": run.info.run_id, "model": model,
           "root": root, "jpeg": root / "photo.jpg"}
    mlflow.set_tracking_uri(previous)


def _predict_rows(model, jpeg: Path) -> list[dict]:
    [chunk] = label_files(Predictor(model, top_k=3), *image_files(jpeg)[:2])
    return chunk.rows


def test_the_logged_model_has_a_signature_an_example_and_answers_like_predict(logged):
    info = mlflow.models.get_model_info(logged["model_uri"])
    assert info.signature.inputs.input_names() == ["image"]
    assert info.signature.params.to_dict()[0]["name"] == "top_k"
    assert info.saved_input_example_info is not None
    served = mlflow.pyfunc.load_model(logged["model_uri"])
    out = served.predict({"image": [logged["jpeg"].read_bytes(), b"junk"]}, params={"top_k": 2})
    expected = _predict_rows(logged["model"], logged["jpeg"])[0]
    assert out["label"][0] == expected["label"]
    assert out["top_labels"][0] == expected["top_labels"][:2]
    np.testing.assert_allclose(out["probability"][0], expected["probability"], atol=1e-6)
    assert "not a readable image" in out["error"][1] and out["error"][0] == ""
    # uint8 arrays: through the Python model (the logged signature is the encoded-image column)
    rgb = np.asarray(Image.open(logged["jpeg"]))
    arrays = served.unwrap_python_model().predict(None, [rgb, rgb[..., 0]])
    assert list(arrays["label"]) == [r["label"] for r in Predictor(logged["model"]).label_arrays(
        [rgb, rgb[..., 0]])]


def test_registered_name_and_alias_work_as_predict_model_and_backbone(logged):
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("tiny", "champion", "1")
    weight_source.register()
    by_alias = load_model("models:/tiny@champion")
    assert by_alias.meta["class_names"] == ["cat", "dog", "owl"]
    assert all(torch.equal(a, b) for a, b in zip(by_alias.state_dict().values(),
                                                 logged["model"].state_dict().values(),
                                                 strict=True))
    from deepvision.models.pretrained import load_backbone

    assert load_backbone("models:/tiny@champion").num_features > 0
    assert load_model(f"runs:/{logged['run']}/{NAME}").meta == by_alias.meta


def test_the_model_loads_in_a_plain_process_from_its_own_code(logged, tmp_path):
    """No Kedro session, no project on the path: cwd elsewhere, PYTHONPATH unset; the
    ``deepvision`` imported must be the copy inside the model (code_paths)."""
    script = (
        "import json, sys, mlflow\n"
        f"mlflow.set_tracking_uri({logged['uri']!r})\n"
        f"m = mlflow.pyfunc.load_model({logged['model_uri']!r})\n"
        f"out = m.predict({{'image': [open({str(logged['jpeg'])!r}, 'rb').read()]}})\n"
        "import deepvision\n"
        "print(json.dumps({'label': out['label'][0], 'file': deepvision.__file__,\n"
        "                  'kedro': 'kedro.framework.session' in sys.modules}))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["label"] == _predict_rows(logged["model"], logged["jpeg"])[0]["label"]
    assert "/code/deepvision/" in answer["file"] and not answer["kedro"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_mlflow_models_serve_answers_a_real_jpeg_over_http(logged, tmp_path):
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)  # mlflow serve starts uvicorn from PATH
    env = {**os.environ, "MLFLOW_TRACKING_URI": logged["uri"],
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    mlflow_cli = Path(bin_dir) / "mlflow"
    server = subprocess.Popen([str(mlflow_cli), "models", "serve", "-m", logged["model_uri"],
                               "--host", "127.0.0.1", "--port", str(port),
                               "--env-manager", "local"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_ready(port, server)
        blob = base64.b64encode(logged["jpeg"].read_bytes()).decode()
        body = json.dumps({"dataframe_split": {"columns": ["image"], "data": [[blob]]}})
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body.encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            [answer] = json.loads(response.read())["predictions"]
        expected = _predict_rows(logged["model"], logged["jpeg"])[0]
        assert answer["label"] == expected["label"]
        assert answer["top_labels"] == expected["top_labels"]
        np.testing.assert_allclose(answer["probability"], expected["probability"], atol=1e-6)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_ready(port: int, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow models serve exited: {server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"mlflow models serve did not answer on port {port} in {seconds} s")
