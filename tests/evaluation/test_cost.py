"""Inference cost reports every key with a positive value and leaves the model as it was; no
timing thresholds (the machine is shared)."""

import torch
from torch import nn

from deepvision.evaluation import inference_cost
from deepvision.models import count_parameters, create_model


def test_inference_cost_defaults_on_resnet20():
    model = create_model("resnet20", 10, 1).train()
    cost = inference_cost(model, (1, 8, 8), "cpu")
    assert set(cost) == {"latency_ms_batch1", "throughput_images_per_s", "throughput_batch_size",
                         "parameters", "macs", "size_mb", "inference_bf16"}
    assert all(v > 0 for k, v in cost.items() if k != "inference_bf16")
    assert cost["inference_bf16"] == 0.0  # fp32 unless asked
    assert cost["throughput_batch_size"] == 256
    assert cost["parameters"] == count_parameters(model)[0]
    assert model.training  # measured on a copy: the caller's model keeps its mode and layout
    assert next(model.parameters()).is_contiguous()


def test_inference_cost_names_latency_by_batch_size_and_honours_repeats():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    cost = inference_cost(model, (3, 6, 6), torch.device("cpu"), batch_sizes=(2, 8), warmup=0,
                          repeats=1, channels_last=False)
    assert cost["latency_ms_batch2"] > 0 and cost["throughput_images_per_s"] > 0
    assert cost["throughput_batch_size"] == 8
    assert cost["macs"] == 4 * 3 * 9 * 16 + 64 * 2


def test_inference_cost_runs_in_the_resolved_precision(monkeypatch):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    for capabilities, expected in (({"amx_bf16": True}, 1.0), ({}, 0.0)):
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda c=capabilities: c)
        cost = inference_cost(model, (3, 6, 6), "cpu", batch_sizes=(2,), warmup=0, repeats=1,
                              precision="auto")
        assert cost["inference_bf16"] == expected
