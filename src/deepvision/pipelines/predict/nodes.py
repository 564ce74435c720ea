"""Nodes of the ``predict`` pipeline."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pandas as pd
from torch import nn

from deepvision.engine import resolve_device
from deepvision.pipelines.params import parse_predict
from deepvision.serving import Predictor, image_files, label_files, load_model, progress_bar

COLUMNS = ["file", "label", "probability", "top_labels", "top_probabilities"]


def select_model(predict: dict[str, Any]) -> nn.Module:
    """The model ``predict.model`` names: "" the newest trained_model, a version, a file, a URI."""
    return load_model(parse_predict(predict).model)


def label_images(predict_model: nn.Module, predict: dict[str, Any],
                 ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Label every image under ``predict.input`` in streamed chunks; report what was skipped."""
    cfg = parse_predict(predict)
    root, files, skipped = image_files(cfg.input)
    predictor = Predictor(predict_model, device=resolve_device(cfg.device),
                          batch_size=cfg.batch_size, top_k=cfg.top_k)
    rows, notes = [], Counter()
    for chunk in label_files(predictor, root, files, cfg.chunk_size, cfg.workers,
                             cfg.max_image_pixels, progress_bar(len(files), cfg.progress)):
        rows += chunk.rows
        skipped += chunk.skipped
        notes += chunk.notes
    report = {"input": str(cfg.input), "model": cfg.model or "newest trained_model",
              "files": len(files), "labelled": len(rows), "skipped": skipped, "notes": dict(notes),
              "preprocessing": {**vars(predictor.pre), "top_k": predictor.top_k}}
    table = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("top_labels", "top_probabilities"):  # JSON lists, readable from any language
        table[column] = table[column].map(json.dumps)
    return table, report
