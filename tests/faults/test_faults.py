"""Every fault of issue 13, through real ``kedro run`` processes: the MLflow record says what
ran, no run is left RUNNING, and each error is one line a user can act on.

The numbers in the test names are the issue's cases.
"""

from __future__ import annotations

import io
import os
import signal
import socket
from pathlib import Path

import pytest
import torch

from deepvision.tracking.lifecycle import CLOSED_TAG, ERROR_TAG, RESUMED_FROM_TAG
from tests.faults.harness import (
    curve,
    interrupt_when,
    kedro,
    one_line_error,
    runs,
    start_kedro,
)
from tests.scratch import make_project

pytestmark = pytest.mark.faults

TRAIN = ("run", "--env", "test", "--pipelines", "train", "--params")
CHECKPOINT = Path("data/06_models/checkpoints/train.pt")


def _train_images(project: Path) -> int:
    [split] = (project / "data/05_model_input/train_split.pt").glob("*/train_split.pt")
    return len(torch.load(split, weights_only=True)["labels"])


def _live_epochs(project: Path) -> int:
    running = runs(project, "attributes.status = 'RUNNING'")
    return max((len(curve(project, r.info.run_id, "val_accuracy")) for r in running), default=0)


def test_1_5_9_train_alone_records_the_model_and_data_it_loaded(project):
    result = kedro(project, *TRAIN, "train.epochs=2,train.batch_size=4096,model.name=lenet5")
    assert result.returncode == 0, result.stdout[-3000:]
    # 5: model.* means nothing to train: a warning names the pipeline that reads it.
    one_line_error(result.stdout, "--params model.*", "has no effect", "build")
    [run] = runs(project, "tags.pipeline = 'train'")
    [builder] = runs(project, "tags.pipeline = 'build+ingest+prepare'")
    # 1: the model named is the ResNet-20 in initial_model, not the parameter.
    assert run.data.tags["model"] == "resnet20" and "lenet5" not in run.info.run_name
    assert run.info.run_name == "train · resnet20 · digits"
    inputs = {i.dataset.name: i.dataset.digest for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"initial_model", "train_split", "val_split"}
    for name in inputs:
        assert run.data.tags[f"input.{name}"] == builder.data.tags[f"output.{name}"]
        assert run.data.tags[f"input.{name}.run"] == builder.info.run_id
    # Live curves replace the end-of-run copy: one point per epoch.
    assert curve(project, run.info.run_id, "val_accuracy") == [1, 2]
    # 9: a batch larger than the split processes the split, not batch_size images.
    metrics = run.data.metrics
    processed = metrics["images_per_second"] * metrics["epoch_seconds"]
    assert processed == pytest.approx(_train_images(project), rel=1e-3)


def test_6_7_sigkill_mid_training_then_resume_gives_one_gap_free_record(project):
    args = (*TRAIN, "train.epochs=10,train.resume=true")
    first = start_kedro(project, *args)
    err = interrupt_when(first, lambda: _live_epochs(project) >= 2, signal.SIGKILL)
    # 7: resume=true without a checkpoint says so in one line.
    one_line_error(err, "train.resume is true but there is no checkpoint", "starting afresh")
    [killed] = runs(project, "tags.pipeline = 'train'")
    assert killed.info.status == "RUNNING"  # what kill -9 leaves behind
    assert len(curve(project, killed.info.run_id, "val_accuracy")) >= 2  # live curves

    second = kedro(project, *args)
    assert second.returncode == 0, second.stdout[-3000:]
    one_line_error(second.stdout, killed.info.run_id, "marked FAILED")
    one_line_error(second.stdout, "stale lock")
    resumed, closed = runs(project, "tags.pipeline = 'train'")
    assert closed.info.run_id == killed.info.run_id and closed.info.status == "FAILED"
    assert CLOSED_TAG in closed.data.tags
    assert resumed.info.status == "FINISHED"
    assert resumed.data.tags[RESUMED_FROM_TAG] == killed.info.run_id
    assert curve(project, resumed.info.run_id, "val_accuracy") == list(range(1, 11))
    assert not runs(project, "attributes.status = 'RUNNING'")


def test_6_sigterm_ends_the_run_killed_and_releases_the_checkpoint(project):
    process = start_kedro(project, *TRAIN, "train.epochs=30")
    err = interrupt_when(process, lambda: _live_epochs(project) >= 1, signal.SIGTERM)
    one_line_error(err, "Stopped by SIGTERM", "marked KILLED")
    [run] = runs(project, "tags.pipeline = 'train'")
    assert run.info.status == "KILLED"
    assert not (project / f"{CHECKPOINT}.lock").exists()


class Payload:
    """Stands for a pickle that would run code: weights-only loading must refuse it."""


def _truncated() -> bytes:
    buffer = io.BytesIO()
    torch.save({"model": torch.zeros(1000)}, buffer)
    return buffer.getvalue()[:2000]


def _pickled(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "is empty"),
    (_truncated(), "truncated or not a torch file"),
    (b"not a checkpoint at all" * 10, "truncated or not a torch file"),
    (_pickled(Payload()), "holds Python objects"),
    (_pickled({"weights": torch.zeros(3)}), "not a deepvision training checkpoint"),
], ids=["empty", "truncated", "garbage", "malicious", "foreign"])
def test_3_a_broken_checkpoint_is_one_line_naming_the_file_and_the_fix(project, content,
                                                                      problem):
    (project / CHECKPOINT).parent.mkdir(parents=True)
    (project / CHECKPOINT).write_bytes(content)
    result = kedro(project, *TRAIN, "train.epochs=1,train.resume=true")
    assert result.returncode != 0
    one_line_error(result.stdout, str(CHECKPOINT), problem, "train.resume=false")
    assert "weights_only=False" not in result.stdout
    assert [r.info.status for r in runs(project, "tags.pipeline = 'train'")] == ["FAILED"]


@pytest.mark.parametrize(("pipeline", "params", "needles"), [
    ("train", "trian.epochs=3", ("unknown parameter block(s) trian", "known blocks", "train")),
    ("train", "train.run_name=../../../../somewhere/x", ("train.run_name", "letters, digits")),
    ("build", "model.kwargs.foo=1", ("model.kwargs.foo", "allowed:")),
    ("train", "train.epochs=0", ("train.epochs=0", "out of range")),
], ids=["unknown-block", "unsafe-run-name", "model-kwargs", "out-of-range"])
def test_2_4_5_11_rejected_parameters_fail_up_front_with_a_failed_run(project, pipeline, params,
                                                                    needles):
    before = {r.info.run_id for r in runs(project)}
    result = kedro(project, "run", "--env", "test", "--pipelines", pipeline, "--params", params)
    assert result.returncode != 0
    one_line_error(result.stdout, *needles)
    new = [r for r in runs(project) if r.info.run_id not in before]
    assert all(r.info.status == "FAILED" and ERROR_TAG in r.data.tags for r in new)
    assert not (project.parent / "somewhere").exists()


def test_8_a_second_writer_of_the_same_checkpoint_is_refused(project):
    lock = project / f"{CHECKPOINT}.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{socket.gethostname()} {os.getpid()}")  # a live owner: this test
    result = kedro(project, *TRAIN, "train.epochs=1")
    assert result.returncode != 0
    one_line_error(result.stdout, str(CHECKPOINT), "being written by another training",
                   "train.run_name")
    assert lock.read_text() == f"{socket.gethostname()} {os.getpid()}"


def test_12_a_stage_without_its_inputs_names_the_pipeline_that_makes_them(tmp_path):
    project = make_project(tmp_path)
    result = kedro(project, *TRAIN, "train.epochs=1")
    assert result.returncode != 0
    one_line_error(result.stdout, "initial_model has no saved version yet",
                   "kedro run --pipelines build")
    assert all(r.info.status == "FAILED" for r in runs(project))


def test_6_10_a_killed_tune_is_closed_and_a_rerun_reaches_n_trials(project):
    args = ("run", "--env", "test", "--pipelines", "tune", "--params",
            "tune.n_trials=2,tune.epochs=8,tune.pruner=none")

    def trial_running() -> bool:
        trials = runs(project, "tags.trial_number = '0' and attributes.status = 'RUNNING'")
        return bool(trials) and len(curve(project, trials[0].info.run_id, "val_accuracy")) >= 1

    interrupt_when(start_kedro(project, *args), trial_running, signal.SIGKILL)
    [parent] = runs(project, "tags.pipeline = 'tune'")
    result = kedro(project, *args)
    assert result.returncode == 0, result.stdout[-3000:]
    one_line_error(result.stdout, "trial(s) 0 were left RUNNING", "marked FAIL")
    assert not runs(project, "attributes.status = 'RUNNING'")
    closed = [r for r in runs(project) if r.info.run_id == parent.info.run_id
              or r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert {r.info.status for r in closed} == {"FAILED"} and len(closed) == 2
    import optuna

    study = optuna.load_study(study_name="deepvision",
                              storage=f"sqlite:///{project / 'data/07_model_output/tune.db'}")
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
