"""Checkpoint files: one clear line for every unusable file, and one writer at a time."""

import os
import socket

import pytest
import torch

from deepvision.engine import checkpoint as ckpt


def test_loading_a_missing_or_empty_file_names_it_and_the_fix(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="does not exist.*train.resume=false"):
        ckpt.load(tmp_path / "none.pt")
    empty = tmp_path / "empty.pt"
    empty.touch()
    with pytest.raises(ckpt.CheckpointError, match=f"{empty} is empty.*delete the file"):
        ckpt.load(empty)


def test_a_foreign_file_is_refused(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ckpt.CheckpointError, match="not a deepvision training checkpoint"):
        ckpt.load(path)


def test_a_second_writer_is_refused_while_the_first_lives(tmp_path):
    path = tmp_path / "run.pt"
    with ckpt.exclusive(path):
        assert (tmp_path / "run.pt.lock").read_text() == f"{socket.gethostname()} {os.getpid()}"
        with pytest.raises(ckpt.CheckpointLockedError, match="another training"), \
                ckpt.exclusive(path):
            pass
    assert not (tmp_path / "run.pt.lock").exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, caplog):
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    (tmp_path / "run.pt.lock").write_text(f"{socket.gethostname()} {dead}")
    with ckpt.exclusive(tmp_path / "run.pt"):
        pass
    assert "stale lock" in caplog.text
    assert not (tmp_path / "run.pt.lock").exists()
