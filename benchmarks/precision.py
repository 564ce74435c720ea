"""bf16 autocast (``train.precision: auto``) against fp32: training and inference images/s.

Same model, data, batch, threads and memory format (channels_last); the two precisions alternate
in one process (A B A B ...) so machine noise hits both alike. ``auto`` resolves to bf16 only on
a device with native bf16 units; elsewhere both columns measure fp32 and the ratio is ~1.
"""

from __future__ import annotations

import statistics
import time

import torch

from deepvision.engine import TrainConfig, fit, predict
from deepvision.engine.device import resolve_precision
from deepvision.models import create_model


def _train_rate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                precision: str) -> float:
    cfg = TrainConfig(epochs=1, batch_size=batch_size, lr=0.01, warmup_epochs=0,
                      schedule="constant", checkpoint_dir=None, progress="off",
                      precision=precision, device="cpu")
    result = fit(model, (x, y), None, cfg)
    return result.history[0]["images_per_second"]


def _infer_rate(model: torch.nn.Module, x: torch.Tensor, batch_size: int,
                precision: str) -> float:
    start = time.perf_counter()
    predict(model, x, batch_size, device="cpu", precision=precision)
    return len(x) / (time.perf_counter() - start)


def compare_precision(name: str, n_train: int, batch_size: int, n_infer: int = 2048,
                      image_size: int = 32, rounds: int = 3) -> dict[str, float | str]:
    torch.manual_seed(0)
    x = torch.randint(0, 256, (max(n_train, n_infer), 3, image_size, image_size),
                      dtype=torch.uint8)
    y = torch.randint(0, 10, (len(x),))
    model = create_model(name, 10, 3)
    auto = resolve_precision("auto", torch.device("cpu"))
    rates: dict[str, list[float]] = {k: [] for k in ("train_auto", "train_fp32", "infer_auto",
                                                    "infer_fp32")}
    # Warm-up: allocator, thread pool, oneDNN kernel selection for both precisions.
    for precision in ("auto", "fp32"):
        _train_rate(model, x[:2 * batch_size], y[:2 * batch_size], batch_size, precision)
        _infer_rate(model.eval(), x[:256], 256, precision)
    for _ in range(rounds):
        for precision in ("auto", "fp32"):
            rates[f"train_{precision}"].append(
                _train_rate(model, x[:n_train], y[:n_train], batch_size, precision))
            rates[f"infer_{precision}"].append(_infer_rate(model.eval(), x[:n_infer], 256,
                                                           precision))
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"model": name, "auto_is": auto, "batch_size": batch_size,
            "threads": torch.get_num_threads(),
            "train_auto_images_per_s": round(med["train_auto"], 1),
            "train_fp32_images_per_s": round(med["train_fp32"], 1),
            "train_ratio": round(med["train_auto"] / med["train_fp32"], 2),
            "infer_auto_images_per_s": round(med["infer_auto"], 1),
            "infer_fp32_images_per_s": round(med["infer_fp32"], 1),
            "infer_ratio": round(med["infer_auto"] / med["infer_fp32"], 2)}
