"""What a model costs to run: latency at batch 1, throughput at a large batch, parameters, MACs
and size, measured on the device it will be judged on.

Timings are medians of repeated runs after a warm-up (the first calls pay for allocation, kernel
selection and caches); on CUDA and MPS the device is synchronised around each run, since kernel
launches return before the work is done.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn

from deepvision.engine.device import autocast, resolve_precision
from deepvision.models.summary import count_macs, count_parameters, model_size_mb


def inference_cost(model: nn.Module, input_shape: Sequence[int], device: torch.device | str,
                   batch_sizes: Sequence[int] = (1, 256), warmup: int = 5, repeats: int = 20,
                   channels_last: bool = True, max_seconds: float = 0.25,
                   precision: str = "fp32") -> dict[str, float]:
    """Latency (ms, median) at the first batch size, images/s at the last, and the model's size.

    Keys: ``latency_ms_batch{b}`` (b = ``batch_sizes[0]``, so ``latency_ms_batch1`` by default),
    ``throughput_images_per_s`` and ``throughput_batch_size``, ``parameters``, ``macs`` (one
    image) and ``size_mb``. Each batch size runs ``warmup`` untimed and then up to ``repeats``
    timed forward passes; either phase stops early once it has spent ``max_seconds`` (after at
    least 3 timed runs), so a big model on a CPU reports in seconds rather than minutes while a
    small one gets all its repeats. ``model`` itself is not moved or changed: a copy is measured.
    ``precision`` is that of training and ``predict`` (``auto``: bf16 where the device has native
    bf16 units); the resolved choice is reported as ``inference_bf16`` (1 or 0).
    """
    device = torch.device(device)
    small, large = batch_sizes[0], batch_sizes[-1]
    # A copy, because .to(device) and channels_last convert a module in place.
    net = copy.deepcopy(model).to(device).eval()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    precision = resolve_precision(precision, device)
    with autocast(device, precision):
        latency_s = _median_seconds(net, input_shape, small, device, warmup, repeats,
                                    max_seconds, channels_last)
        batch_s = (latency_s if large == small else
                   _median_seconds(net, input_shape, large, device, warmup, repeats, max_seconds,
                                   channels_last))
    return {f"latency_ms_batch{small}": latency_s * 1e3,
            "throughput_images_per_s": large / batch_s,
            "throughput_batch_size": large,
            "parameters": count_parameters(model)[0],
            "macs": count_macs(net, input_shape),
            "size_mb": model_size_mb(model),
            "inference_bf16": float(precision == "bf16")}


@torch.inference_mode()
def _median_seconds(net: nn.Module, input_shape: Sequence[int], batch_size: int,
                    device: torch.device, warmup: int, repeats: int, max_seconds: float,
                    channels_last: bool) -> float:
    dtype = next(net.parameters()).dtype
    x = torch.randn(batch_size, *input_shape, device=device, dtype=dtype)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    warm = 0.0
    for _ in range(warmup):
        warm += _seconds(net, x, device)
        if warm > max_seconds:
            break
    times: list[float] = []
    while len(times) < max(1, repeats) and (len(times) < 3 or sum(times) < max_seconds):
        times.append(_seconds(net, x, device))
    return statistics.median(times)


def _seconds(net: nn.Module, x: torch.Tensor, device: torch.device) -> float:
    _synchronize(device)
    start = time.perf_counter()
    net(x)
    _synchronize(device)
    return time.perf_counter() - start


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
