"""Nodes of the ``evaluate`` pipeline: predictions on the test split, then metrics, cost, tables
and figures computed from them."""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from torch import Tensor, nn

from deepvision.compression.score import model_score
from deepvision.data.imageset import ImageSet
from deepvision.data.transforms import normalize
from deepvision.engine import predict, resolve_device
from deepvision.engine.device import set_threads
from deepvision.evaluation import (
    EvaluationResult,
    evaluate_predictions,
    inference_cost,
    with_tta,
)
from deepvision.models.bundle import bundle_size_mb
from deepvision.pipelines.metrics import as_metrics
from deepvision.pipelines.params import parse_evaluate, parse_train
from deepvision.reporting.plots import (
    confident_errors_figure,
    confusion_matrix_figure,
    reliability_figure,
)
from deepvision.serving import export_onnx, onnx_cost


def predict_test(trained_model: nn.Module, test_split: ImageSet, train: dict[str, Any],
                 evaluate: dict[str, Any]) -> Tensor:
    """Logits of the test images, normalised with the statistics the model was trained on,
    averaged over ``evaluate.tta``'s views."""
    cfg, tta = parse_train(train), parse_evaluate(evaluate).tta
    set_threads(cfg.threads)  # as in training: on busy cores, extra threads are far slower
    meta = trained_model.meta
    # predict() moves the model to the device and sets eval mode in place: work on a copy.
    return predict(with_tta(copy.deepcopy(trained_model), tta), test_split.images,
                   cfg.eval_batch_size,
                   partial(normalize, mean=meta["mean"], std=meta["std"]),
                   resolve_device(cfg.device), cfg.precision, cfg.channels_last)


def evaluate_test(test_logits: Tensor, test_split: ImageSet, trained_model: nn.Module,
                  evaluate: dict[str, Any]) -> EvaluationResult:
    """Accuracy, loss, per-class scores, confusion, calibration and confident errors."""
    cfg = parse_evaluate(evaluate)
    names = list(trained_model.meta["class_names"])
    if names != list(test_split.class_names):
        raise ValueError(f"the model was trained on classes {names} but the test split has "
                         f"{list(test_split.class_names)}")
    return evaluate_predictions(test_logits, test_split.labels, names,
                                cfg.calibration_bins, cfg.confident_errors)


def measure_cost(trained_model: nn.Module, test_split: ImageSet, train: dict[str, Any],
                 evaluate: dict[str, Any]) -> dict[str, float]:
    """Latency at batch 1, throughput, parameters, MACs, in-memory and checkpoint size (MB), and
    the course's challenge score with its parts (``challenge_score``, ``p_s``, ``q_w``, ...)."""
    cfg, train_cfg = parse_evaluate(evaluate), parse_train(train)
    # Timed with training's thread count: more threads than free cores can make batch-1
    # latency orders of magnitude worse (README, "Benchmarks").
    set_threads(train_cfg.threads)
    cost = inference_cost(trained_model, (test_split.channels, *test_split.image_size),
                          resolve_device(train_cfg.device),
                          batch_sizes=(1, cfg.throughput_batch_size), warmup=cfg.warmup,
                          repeats=cfg.repeats, channels_last=train_cfg.channels_last,
                          max_seconds=cfg.max_seconds, precision=train_cfg.precision)
    if cfg.onnx:  # the graph `kedro run --pipelines export` writes, beside eager PyTorch
        cost |= onnx_cost(export_onnx(trained_model), (test_split.channels, *test_split.image_size),
                          (1, cfg.throughput_batch_size), cfg.warmup, cfg.repeats,
                          cfg.max_seconds, threads=train_cfg.threads or 0)
    score = model_score(trained_model, (test_split.channels, *test_split.image_size))
    return {**cost, "checkpoint_mb": bundle_size_mb(trained_model), **score.as_metrics()}


def combine_metrics(evaluation: EvaluationResult, inference_cost: dict[str, float],
                    test_split: ImageSet) -> dict[str, float]:
    """The flat metrics of ``metrics.json``: quality, then cost, then the test-set size."""
    return {**evaluation.metrics, **inference_cost, "test_images": len(test_split)}


def metrics_for_mlflow(test_metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """The same numbers in MLflow's metric format."""
    return as_metrics(test_metrics)


def per_class_table(evaluation: EvaluationResult) -> pd.DataFrame:
    """Precision, recall, F1 and support, one row per class."""
    return pd.DataFrame(evaluation.per_class, columns=["class", "precision", "recall", "f1",
                                                       "support"])


def confusion_table(evaluation: EvaluationResult) -> pd.DataFrame:
    """The confusion matrix with class names: rows true, columns predicted."""
    names = [row["class"] for row in evaluation.per_class]
    return pd.DataFrame(evaluation.confusion.numpy(), columns=names,
                        index=pd.Index(names, name="true \\ predicted"))


def confusion_plot(evaluation: EvaluationResult) -> Figure:
    """Heat map of the confusion matrix with the count in each cell."""
    names = [row["class"] for row in evaluation.per_class]
    return confusion_matrix_figure(evaluation.confusion, names, "Test confusion matrix")


def reliability_plot(evaluation: EvaluationResult) -> Figure:
    """Reliability diagram: accuracy per confidence bin against perfect calibration."""
    return reliability_figure(evaluation.calibration, evaluation.metrics["ece"],
                              "Test reliability diagram")


def confident_errors_plot(evaluation: EvaluationResult, test_split: ImageSet) -> Figure:
    """The test images the model got wrong with the highest confidence, captioned."""
    idx = evaluation.confident_errors
    errors = int((evaluation.predictions != test_split.labels).sum())
    return confident_errors_figure(test_split.images[idx], test_split.labels[idx],
                                   evaluation.predictions[idx], evaluation.confidences[idx],
                                   test_split.class_names,
                                   "Most confident test errors, true → predicted (confidence): "
                                   f"{len(idx)} of {errors}")
