"""Using a model: ``predict`` throughput from JPEG files to a CSV, and ONNX Runtime against eager
PyTorch at batch 1 (latency) and batch 256 (throughput), same run, same machine.

The model is a CIFAR-shaped resnet20 (3×32×32, 10 classes, untrained: timing does not depend on
the weights); the files are generated 32×32 JPEGs, decoded and validated as ``predict`` does.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from deepvision.evaluation import inference_cost
from deepvision.models import create_model
from deepvision.serving import (
    Predictor,
    export_onnx,
    image_files,
    label_files,
    onnx_cost,
    preprocessing_meta,
)


def _model(name: str = "resnet20", size: int = 32) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(name, 10, 3).eval()
    model.meta = preprocessing_meta([str(i) for i in range(10)], (size, size), (0.49, 0.48, 0.45),
                                    (0.25, 0.24, 0.26))
    return model


def bench_predict(n: int = 5_000, workers: int = 2, size: int = 32) -> dict:
    """Images/s from ``n`` JPEG files on disk to predictions.csv (decode, validate, label)."""
    model = _model(size=size)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        root.mkdir()
        rng = np.random.default_rng(0)
        for i in range(n):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"{i:06d}.jpg", quality=90)
        start = time.perf_counter()
        folder, files, _ = image_files(root)
        predictor = Predictor(model, batch_size=256)
        rows = [r for chunk in label_files(predictor, folder, files, 2048, workers)
                for r in chunk.rows]
        pd.DataFrame(rows).to_csv(Path(tmp) / "predictions.csv", index=False)
        seconds = time.perf_counter() - start
    return {"what": f"predict: {n} 32×32 JPEG files → predictions.csv, resnet20, "
                    f"{workers} decoding workers", "images_per_s": round(n / seconds),
            "seconds": round(seconds, 1)}


def bench_onnx(name: str = "resnet20", size: int = 32) -> dict:
    """ONNX Runtime vs eager PyTorch (fp32, CPU, all of torch's threads) on one model."""
    model = _model(name, size)
    shape = (3, size, size)
    eager = inference_cost(model, shape, "cpu", batch_sizes=(1, 256), repeats=30, max_seconds=2)
    ort = onnx_cost(export_onnx(model), shape, (1, 256), repeats=30, max_seconds=2)
    return {"what": f"{name} 3×{size}×{size}, CPU",
            "eager_latency_ms_batch1": round(eager["latency_ms_batch1"], 3),
            "onnx_latency_ms_batch1": round(ort["onnx_latency_ms_batch1"], 3),
            "eager_images_per_s_batch256": round(eager["throughput_images_per_s"]),
            "onnx_images_per_s_batch256": round(ort["onnx_throughput_images_per_s"])}
