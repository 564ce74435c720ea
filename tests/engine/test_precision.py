"""Precision ``auto``: bf16 autocast where the device multiplies bf16 natively, fp32 elsewhere."""

from dataclasses import replace

import pytest
import torch
from sklearn.datasets import load_digits

from deepvision.engine import TrainConfig, evaluate, fit
from deepvision.engine.device import autocast, native_bf16, resolve_precision
from tests.engine.conftest import TinyNet

CPU = torch.device("cpu")


@pytest.mark.parametrize(("capabilities", "expected"), [
    ({"amx_bf16": True, "avx512_bf16": True}, "bf16"),
    ({"amx_bf16": False, "avx512_bf16": True}, "bf16"),
    ({"amx_bf16": False, "avx512_bf16": False, "avx2": True}, "fp32"),
    ({}, "fp32"),
])
def test_auto_picks_bf16_only_on_cpus_with_native_bf16_units(monkeypatch, capabilities, expected):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert resolve_precision("auto", CPU) == expected
    assert native_bf16(CPU) == (expected == "bf16")


def test_auto_trains_depthwise_nets_in_fp32_on_a_bf16_cpu_without_amx(monkeypatch):
    depthwise = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, groups=8), torch.nn.Conv2d(8, 4, 1))
    dense = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3), torch.nn.Conv2d(8, 4, 1, groups=2))
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True})
    assert resolve_precision("auto", CPU, training=depthwise) == "fp32"
    assert resolve_precision("auto", CPU, training=dense) == "bf16"
    assert resolve_precision("auto", CPU) == "bf16"  # inference: bf16 is faster there
    assert resolve_precision("bf16", CPU, training=depthwise) == "bf16"
    monkeypatch.setattr(torch.cpu, "get_capabilities",
                        lambda: {"avx512_bf16": True, "amx_bf16": True})
    assert resolve_precision("auto", CPU, training=depthwise) == "bf16"


def test_auto_on_cuda_follows_the_gpus_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for supported, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda s=supported: s)
        assert resolve_precision("auto", torch.device("cuda")) == expected


def test_an_explicit_precision_is_kept_whatever_the_hardware(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {})
    assert resolve_precision("bf16", CPU) == "bf16"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    assert resolve_precision("fp32", CPU) == "fp32"
    assert resolve_precision("auto", torch.device("mps")) == "fp32"


def test_autocast_auto_runs_matmuls_in_bf16_on_a_bf16_cpu(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    with autocast(CPU, "auto"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {})
    with autocast(CPU, "auto"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_fit_records_the_resolved_precision(monkeypatch, cfg):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True})
    x, y = _digits()
    result = fit(TinyNet(10, 1), (x[:64], y[:64]), None, replace(cfg, epochs=1))
    assert result.config["precision"] == "bf16"


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_digits()
    x = torch.tensor(d.images * 255 / 16, dtype=torch.uint8).unsqueeze(1)
    return x, torch.tensor(d.target)


def test_bf16_training_on_digits_reaches_the_fp32_accuracy(tmp_path):
    x, y = _digits()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, test = perm[:1400], perm[1400:]
    accuracy = {}
    for precision in ("fp32", "bf16"):
        cfg = TrainConfig(epochs=6, batch_size=32, lr=0.1, warmup_epochs=0, progress="off",
                          checkpoint_dir=None, precision=precision, threads=1)
        torch.manual_seed(0)
        result = fit(TinyNet(10, 1), (x[train], y[train]), None, cfg)
        accuracy[precision] = evaluate(result.model, x[test], y[test], cfg)["accuracy"]
    assert accuracy["fp32"] > 0.8  # the comparison means something: fp32 learned the digits
    # 397 test images: one standard error of an accuracy near 0.9 is ~1.5 points.
    assert accuracy["bf16"] >= accuracy["fp32"] - 0.03, accuracy
