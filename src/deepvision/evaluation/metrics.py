"""Classification metrics on predictions already computed: confusion matrix, per-class report,
top-k accuracy, calibration (ECE and reliability bins) and the most confident errors.

Pure torch; every function takes CPU or device tensors and returns Python numbers or CPU tensors.
``evaluate_predictions`` is the one entry point a pipeline node calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Everything the evaluation reports, computed once from the logits.

    ``metrics`` holds floats only (test_accuracy, test_loss, top1_accuracy, top5_accuracy,
    macro_precision, macro_recall, macro_f1, ece) so it can be logged as-is; ``per_class`` has one
    row per class (class, precision, recall, f1, support); ``confusion`` is K×K (rows true, columns
    predicted); ``calibration`` holds the reliability bins; ``confident_errors`` indexes the inputs
    whose wrong prediction was most confident, most confident first; ``predictions`` and
    ``confidences`` are the top class and its probability for every input.
    """

    metrics: dict[str, float]
    per_class: list[dict[str, Any]]
    confusion: Tensor
    calibration: list[dict[str, float]]
    confident_errors: Tensor
    predictions: Tensor
    confidences: Tensor

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (tensors as lists; per-input predictions left out)."""
        return {"metrics": dict(self.metrics), "per_class": [dict(r) for r in self.per_class],
                "confusion": self.confusion.tolist(),
                "calibration": [dict(b) for b in self.calibration],
                "confident_errors": self.confident_errors.tolist()}


def evaluate_predictions(logits: Tensor, y: Tensor, class_names: Sequence[str],
                         n_bins: int = 15, n_errors: int = 16) -> EvaluationResult:
    """All metrics of ``logits`` (N×K) against labels ``y`` (N), K = ``len(class_names)``."""
    logits, y = _check_logits(logits, y)
    if logits.shape[1] != len(class_names):
        raise ValueError(f"logits have {logits.shape[1]} classes but {len(class_names)} class "
                         f"names were given")
    probs = logits.softmax(1)
    confidences, predictions = probs.max(1)
    confusion = confusion_matrix(y, predictions, len(class_names))
    report = classification_report(confusion, class_names)
    ece, bins = expected_calibration_error(probs, y, n_bins)
    metrics = {"test_accuracy": report["accuracy"],
               "test_loss": F.cross_entropy(logits, y).item(),
               **topk_accuracy(logits, y, (1, 5)),
               **{k: report[k] for k in ("macro_precision", "macro_recall", "macro_f1")},
               "ece": ece}
    return EvaluationResult(metrics, report["per_class"], confusion, bins,
                            most_confident_errors(probs, y, n_errors), predictions, confidences)


def confusion_matrix(y_true: Tensor, y_pred: Tensor, num_classes: int) -> Tensor:
    """K×K int64 counts: row = true class, column = predicted class."""
    y_true = torch.as_tensor(y_true).long().flatten().cpu()
    y_pred = torch.as_tensor(y_pred).long().flatten().cpu()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        _check_range(name, labels, num_classes)
    flat = torch.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes)


def classification_report(confusion: Tensor, class_names: Sequence[str]) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, their macro (unweighted) means, and accuracy.

    No entry is ever NaN, by the convention of scikit-learn's ``zero_division=0``: a class never
    predicted has precision 0, a class absent from the labels has recall 0, and F1 is 0 when
    precision and recall are both 0. Macro means run over all ``len(class_names)`` classes, so
    such a class pulls them down; macro F1 is the mean of the per-class F1 scores.
    """
    cm = torch.as_tensor(confusion).double().cpu()
    k = len(class_names)
    if cm.shape != (k, k):
        raise ValueError(f"confusion must be {k}×{k} for {k} class names, got {tuple(cm.shape)}")
    tp, predicted, support = cm.diag(), cm.sum(0), cm.sum(1)
    precision, recall = _safe_div(tp, predicted), _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    per_class = [{"class": str(name), "precision": p, "recall": r, "f1": f, "support": int(s)}
                 for name, p, r, f, s in zip(class_names, precision.tolist(), recall.tolist(),
                                             f1.tolist(), support.tolist(), strict=True)]
    return {"per_class": per_class, "macro_precision": precision.mean().item(),
            "macro_recall": recall.mean().item(), "macro_f1": f1.mean().item(),
            "accuracy": _safe_div(tp.sum(), cm.sum()).item()}


def topk_accuracy(logits: Tensor, y: Tensor, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Share of inputs whose label is among the ``k`` highest logits, keyed ``top{k}_accuracy``.

    ``k`` is capped at the number of classes (top-5 of 3 classes is 1.0) but keeps its requested
    name, so every dataset reports the same keys.
    """
    logits, y = _check_logits(logits, y)
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be at least 1, got {tuple(ks)}")
    k_max = min(max(ks), logits.shape[1])
    hits = logits.topk(k_max, dim=1).indices == y[:, None]
    return {f"top{k}_accuracy": hits[:, :min(k, k_max)].any(1).double().mean().item() for k in ks}


def expected_calibration_error(probs: Tensor, y: Tensor,
                               n_bins: int = 15) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error of the top-class confidence (Guo et al., 2017) and its bins.

    Confidences fall into ``n_bins`` equal-width bins (lower, upper] (the first also takes 0);
    ECE = Σ_b (count_b / N) · |accuracy_b − confidence_b|. Each bin reports its edges, mean
    confidence, accuracy and count; an empty bin reports count 0 and confidence and accuracy 0
    (not NaN, so the bins stay valid JSON).
    """
    probs, y = _check_logits(probs, y)
    if probs.min() < 0 or probs.max() > 1:
        raise ValueError("probs must be probabilities in [0, 1] (the softmax of the logits)")
    confidence, predicted = probs.double().max(1)
    correct = (predicted == y).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    bin_of = torch.bucketize(confidence, edges[1:-1])
    counts = torch.bincount(bin_of, minlength=n_bins).double()
    sum_conf = torch.bincount(bin_of, weights=confidence, minlength=n_bins)
    sum_correct = torch.bincount(bin_of, weights=correct, minlength=n_bins)
    ece = (sum_correct - sum_conf).abs().sum().item() / len(y)
    bins = [{"lower": lo, "upper": hi, "confidence": c, "accuracy": a, "count": int(n)}
            for lo, hi, c, a, n in zip(edges[:-1].tolist(), edges[1:].tolist(),
                                       _safe_div(sum_conf, counts).tolist(),
                                       _safe_div(sum_correct, counts).tolist(), counts.tolist(),
                                       strict=True)]
    return ece, bins


def most_confident_errors(probs: Tensor, y: Tensor, k: int) -> Tensor:
    """Indices of at most ``k`` misclassified inputs, highest top-class probability first."""
    probs, y = _check_logits(probs, y)
    confidence, predicted = probs.max(1)
    wrong = (predicted != y).nonzero().squeeze(1)
    order = confidence[wrong].argsort(descending=True, stable=True)
    return wrong[order[:k]]


def _check_logits(scores: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    scores, y = torch.as_tensor(scores).detach().cpu(), torch.as_tensor(y).detach().cpu().long()
    if scores.ndim != 2 or not scores.is_floating_point():
        raise ValueError(f"expected float scores of shape N×K, got {scores.dtype} "
                         f"{tuple(scores.shape)}")
    if y.shape != (scores.shape[0],):
        raise ValueError(f"{scores.shape[0]} rows of scores but labels of shape {tuple(y.shape)}")
    if len(y) == 0:
        raise ValueError("no predictions to evaluate")
    _check_range("y", y, scores.shape[1])
    return scores.float(), y


def _check_range(name: str, labels: Tensor, num_classes: int) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{name} holds labels outside 0..{num_classes - 1}: "
                         f"min {labels.min().item()}, max {labels.max().item()}")


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    """num / den, and 0 where den is 0 (the documented zero-division convention)."""
    return torch.where(den > 0, num / torch.where(den > 0, den, 1), 0)
