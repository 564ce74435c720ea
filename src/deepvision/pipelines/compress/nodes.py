"""Nodes of the ``compress`` pipeline: pick the model, run the steps, report every stage."""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from deepvision.compression.report import COLUMNS, stage_metrics, stage_row
from deepvision.compression.steps import StepContext, run_steps
from deepvision.data.imageset import ImageSet
from deepvision.data.transforms import build_augment, normalize
from deepvision.engine import resolve_device
from deepvision.engine.device import set_threads
from deepvision.models.pretrained import load_backbone
from deepvision.pipelines.params import parse_augment, parse_compress, parse_evaluate, parse_train
from deepvision.reporting.plots import compression_figure


def select_model(trained_model: nn.Module, compress: dict[str, Any]) -> nn.Module:
    """``trained_model`` from the catalog, or the bundle ``compress.model`` names."""
    cfg = parse_compress(compress)
    if cfg.model == "trained_model":
        return trained_model
    model = load_backbone(cfg.model).model
    if not {"class_names", "mean", "std"} <= set(getattr(model, "meta", {})):
        raise ValueError(f"compress.model={cfg.model!r} is not a project model bundle with "
                         "class names and normalisation statistics; train one with `kedro run`")
    return model.eval()


def compress_stages(model: nn.Module, train_split: ImageSet, val_split: ImageSet,
                    compress: dict[str, Any], train: dict[str, Any],
                    augment: dict[str, Any]) -> dict[str, nn.Module]:
    """Every stage in order, ``00_uncompressed`` first, then one per ``compress.steps`` entry."""
    cfg, meta = parse_compress(compress), model.meta
    if "quantize_int8" in cfg.steps and len(train_split) == 0:
        raise ValueError("compress.steps has quantize_int8 but the training split is empty: "
                         "int8 needs calibration images (run prepare on a non-empty source)")
    ctx = StepContext((train_split.images, train_split.labels),
                      (val_split.images, val_split.labels), cfg.train_config(train),
                      build_augment(parse_augment(augment), meta["mean"], meta["std"],
                                    num_classes=train_split.num_classes),
                      partial(normalize, mean=meta["mean"], std=meta["std"]),
                      (train_split.channels, *train_split.image_size), cfg, train)
    return {f"{i:02d}_{name}": m for i, (name, m) in enumerate(run_steps(model, ctx))}


def final_stage(compression_stages: dict[str, nn.Module]) -> nn.Module:
    """The model after the last step."""
    return compression_stages[max(compression_stages)]


def compare_stages(compression_stages: dict[str, nn.Module], test_split: ImageSet,
                   train: dict[str, Any], evaluate: dict[str, Any]) -> pd.DataFrame:
    """One row per stage: accuracy, score and parts, parameters, MACs, file size, speed."""
    cfg, ev = parse_train(train), parse_evaluate(evaluate)
    set_threads(cfg.threads)
    timing = {"batch_sizes": (1, ev.throughput_batch_size), "warmup": ev.warmup,
              "repeats": ev.repeats, "max_seconds": ev.max_seconds,
              "channels_last": cfg.channels_last}
    rows = [stage_row(name, m, test_split.images, test_split.labels,
                      partial(normalize, mean=m.meta["mean"], std=m.meta["std"]),
                      resolve_device(cfg.device), timing, cfg.eval_batch_size)
            for name, m in sorted(compression_stages.items())]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def comparison_metrics(compression_comparison: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The table as MLflow metrics ``<stage>.<column>``."""
    return stage_metrics(compression_comparison.to_dict("records"))


def comparison_plot(compression_comparison: pd.DataFrame) -> Figure:
    """Accuracy vs challenge score: Pareto front, 90% line, the uncompressed model marked."""
    return compression_figure(compression_comparison.to_dict("records"))
