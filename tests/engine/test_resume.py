"""A training process killed with SIGKILL mid-epoch resumes to a complete, gap-free history."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

from deepvision.engine import checkpoint as ckpt

SCRIPT = textwrap.dedent("""
    import sys, time
    import torch
    import torch.nn.functional as F
    from deepvision.engine import TrainConfig, TrainHooks, fit
    from tests.engine.conftest import TinyNet, toy_data

    def slow_loss(logits, target):
        time.sleep(float(sys.argv[3]))  # slow enough to be killed mid-epoch
        return F.cross_entropy(logits, target)

    torch.manual_seed(0)
    cfg = TrainConfig(epochs=5, batch_size=16, lr=0.05, progress="off", threads=1,
                      checkpoint_dir=sys.argv[1], run_name="run", resume=sys.argv[2] == "resume")
    result = fit(TinyNet(), toy_data(), None, cfg, TrainHooks(loss_fn=slow_loss))
    print("EPOCHS", [int(r["epoch"]) for r in result.history])
    print("LOSSES", [round(r["train_loss"], 5) for r in result.history])
""")


def _run(tmp_path: Path, mode: str, sleep: float) -> subprocess.Popen:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "ckpt"), mode, str(sleep)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_epoch(path: Path, epoch: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        if path.exists() and ckpt.load(path)["epoch"] >= epoch:
            return
        time.sleep(0.05)
    raise TimeoutError(f"no checkpoint for epoch {epoch} after {timeout} s")


def test_sigkill_mid_epoch_then_resume(tmp_path):
    path = tmp_path / "ckpt" / "run.pt"
    proc = _run(tmp_path, "fresh", sleep=0.05)
    _wait_for_epoch(path, 2, proc)
    time.sleep(0.12)  # a couple of steps into epoch 3
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert ckpt.load(path)["epoch"] in (2, 3)

    resumed = _run(tmp_path, "resume", sleep=0.0)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "EPOCHS [1, 2, 3, 4, 5]" in out
    # The resumed losses equal those of an uninterrupted run with the same seed.
    (tmp_path / "straight").mkdir()
    straight = _run(tmp_path / "straight", "fresh", sleep=0.0)
    s_out, s_err = straight.communicate(timeout=120)
    assert straight.returncode == 0, s_err
    losses = [line for line in out.splitlines() if line.startswith("LOSSES")]
    assert losses == [line for line in s_out.splitlines() if line.startswith("LOSSES")]
    assert torch.load(path, weights_only=True)["epoch"] == 5
