"""Device, precision and thread set-up: resolved once, and an absent device is an error."""

import pytest
import torch

from deepvision.engine import device as dev


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_falls_back_to_cpu_and_prefers_cuda(no_accelerator, monkeypatch):
    assert dev.resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("name", ["cuda", "cuda:1", "mps"])
def test_an_absent_device_is_refused_with_the_fix(no_accelerator, name):
    with pytest.raises(RuntimeError, match="use 'auto' or 'cpu'"):
        dev.resolve_device(name)


def test_fp32_is_a_no_op_and_bf16_computes_in_bf16_on_cpu():
    a = torch.ones(4, 4)
    with dev.autocast(torch.device("cpu"), "fp32"):
        assert (a @ a).dtype == torch.float32
    with dev.autocast(torch.device("cpu"), "bf16"):
        assert (a @ a).dtype == torch.bfloat16


def test_fp16_needs_cuda():
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        dev.autocast(torch.device("cpu"), "fp16")


def test_threads_are_set_only_when_given():
    before = torch.get_num_threads()
    try:
        dev.set_threads(None)
        assert torch.get_num_threads() == before
        dev.set_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_determinism_switches_deterministic_kernels_on_and_off():
    try:
        dev.set_determinism(True)
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.benchmark
    finally:
        dev.set_determinism(False)
    assert not torch.are_deterministic_algorithms_enabled()
