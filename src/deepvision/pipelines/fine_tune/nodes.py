"""Nodes of the ``fine_tune`` pipeline: three variants through the one training loop."""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from deepvision.data.imageset import ImageSet
from deepvision.data.split import labelled_subset
from deepvision.data.transforms import build_augment, normalize
from deepvision.engine import evaluate, resolve_device
from deepvision.engine.finetune import train_variant
from deepvision.models.registry import create_model
from deepvision.pipelines.metrics import as_curves, as_metrics
from deepvision.pipelines.params import parse_augment, parse_fine_tune, parse_model, parse_train
from deepvision.reporting.plots import stage_accuracy_figure

STAGE_COLUMNS = ["stage", "module", "features", "val_accuracy", "train_seconds", "best"]


def select_labels(train_split: ImageSet, fine_tune: dict[str, Any]) -> ImageSet:
    """The stratified ``label_fraction`` of the training split every variant learns from."""
    ft = parse_fine_tune(fine_tune)
    return labelled_subset(train_split, ft.label_fraction, ft.seed)


def _train(variant: str, labelled: ImageSet, val: ImageSet, fine_tune: dict, train: dict,
           augment: dict, model: dict) -> tuple[nn.Module, dict[str, Any]]:
    ft, aug = parse_fine_tune(fine_tune), parse_augment(augment)
    cfg = ft.train_config(train, variant)
    if variant == "scratch":  # the project's own model, on normalised inputs
        net = parse_model(model).create(labelled.num_classes, labelled.channels)
        mean, std = labelled.mean, labelled.std
    else:  # the transfer model adapts [0, 1] inputs to its backbone itself
        net = create_model("transfer", labelled.num_classes, labelled.channels,
                           backbone=ft.backbone, input_size=ft.input_size, download=ft.download)
        mean, std = (0.0,) * labelled.channels, (1.0,) * labelled.channels
    result, stages = train_variant(variant, net, (labelled.images, labelled.labels),
                           (val.images, val.labels), ft, cfg,
                           build_augment(aug, mean, std, num_classes=labelled.num_classes),
                           partial(normalize, mean=mean, std=std))
    result.model.meta = labelled.model_meta(mean, std)
    trainable = sum(p.numel() for p in result.model.parameters() if p.requires_grad)
    return result.model, {"variant": variant, "best_epoch": result.best_epoch,
                          "train_seconds": result.train_seconds, "history": result.history,
                          "trainable_parameters": trainable, "stages": stages}


def train_scratch(labelled_train_split: ImageSet, val_split: ImageSet, fine_tune: dict,
                  train: dict, augment: dict, model: dict) -> tuple[nn.Module, dict[str, Any]]:
    """The project's model trained from scratch on the same labels and budget."""
    return _train("scratch", labelled_train_split, val_split, fine_tune, train, augment, model)


def train_linear_probe(labelled_train_split: ImageSet, val_split: ImageSet, fine_tune: dict,
                       train: dict, augment: dict, model: dict) -> tuple[nn.Module, dict]:
    """The pretrained backbone frozen; only a new head trains."""
    return _train("linear_probe", labelled_train_split, val_split, fine_tune, train, augment, model)


def train_fine_tuned(labelled_train_split: ImageSet, val_split: ImageSet, fine_tune: dict,
                     train: dict, augment: dict, model: dict) -> tuple[nn.Module, dict]:
    """The pretrained backbone and a new head trained together (backbone at a lower lr)."""
    return _train("fine_tune", labelled_train_split, val_split, fine_tune, train, augment, model)


def compare_variants(test_split: ImageSet, labelled_train_split: ImageSet, train: dict[str, Any],
                     *models_and_histories: Any) -> tuple[pd.DataFrame, dict, dict]:
    """One row per variant (test accuracy, trainable parameters, training seconds), and the same
    as MLflow metrics ``<variant>.test_accuracy`` with curves ``<variant>.val_accuracy``."""
    cfg = parse_train(train)
    pairs = zip(models_and_histories[::2], models_and_histories[1::2], strict=True)
    rows = [_variant_row(m, h, test_split, cfg) | {"labelled_images": len(labelled_train_split)}
            for m, h in pairs]
    metrics = as_metrics({f"{r['variant']}.{k}": r[k] for r in rows for k in (
        "test_accuracy", "test_loss", "train_seconds", "trainable_parameters")})
    curves = {f"{h['variant']}.{k}": curve for h in models_and_histories[1::2]
              for k, curve in as_curves(h["history"], ("train_loss", "val_loss", "val_accuracy"),
                                        keep_empty=True).items()}
    return pd.DataFrame(rows), metrics, curves


def stage_probe_report(fine_tune_fine_tune_history: dict[str, Any]) -> tuple[pd.DataFrame, Figure]:
    """With ``fine_tune.mode: stage_probe``, the validation accuracy of a linear probe of every
    stage as a table and a plot (an empty table and a note otherwise)."""
    rows = fine_tune_fine_tune_history["stages"]
    return pd.DataFrame(rows, columns=STAGE_COLUMNS), stage_accuracy_figure(rows)


def _variant_row(model: nn.Module, history: dict[str, Any], test: ImageSet, cfg: Any) -> dict:
    meta, variant = model.meta, history["variant"]
    scores = evaluate(model, test.images, test.labels, cfg,
                      partial(normalize, mean=meta["mean"], std=meta["std"]),
                      resolve_device(cfg.device))
    return {"variant": variant, "test_accuracy": scores["accuracy"], "test_loss": scores["loss"],
            "trainable_parameters": history["trainable_parameters"],
            "train_seconds": history["train_seconds"],
            "best_epoch": history["best_epoch"]}
