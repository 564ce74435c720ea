"""Metrics against hand-computed confusion matrices, and calibration on synthetic predictors whose
true calibration is known by construction."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from deepvision.evaluation import (
    classification_report,
    confusion_matrix,
    evaluate_predictions,
    expected_calibration_error,
    most_confident_errors,
    topk_accuracy,
)

# Four classes; class 3 occurs once and is never predicted.
Y_TRUE = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3])
Y_PRED = torch.tensor([0, 0, 1, 1, 0, 2, 1, 1])
NAMES = ["zero", "one", "two", "three"]


def test_confusion_matrix_rows_true_columns_predicted():
    assert confusion_matrix(Y_TRUE, Y_PRED, 4).tolist() == [[2, 1, 0, 0],
                                                             [1, 1, 0, 0],
                                                             [0, 1, 1, 0],
                                                             [0, 1, 0, 0]]
    assert confusion_matrix(Y_TRUE, Y_PRED, 4).dtype == torch.int64


def test_confusion_matrix_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion_matrix(Y_TRUE, Y_PRED, 3)


def test_classification_report_by_hand():
    report = classification_report(confusion_matrix(Y_TRUE, Y_PRED, 4), NAMES)
    # Column sums (predicted) 3, 4, 1, 0; diagonal 2, 1, 1, 0; row sums (support) 3, 2, 2, 1.
    expected = [("zero", 2 / 3, 2 / 3, 2 / 3, 3), ("one", 1 / 4, 1 / 2, 1 / 3, 2),
                ("two", 1.0, 1 / 2, 2 / 3, 2), ("three", 0.0, 0.0, 0.0, 1)]
    for row, (name, p, r, f1, support) in zip(report["per_class"], expected, strict=True):
        assert row == {"class": name, "precision": pytest.approx(p), "recall": pytest.approx(r),
                       "f1": pytest.approx(f1), "support": support}
    assert report["macro_precision"] == pytest.approx((2 / 3 + 1 / 4 + 1) / 4)
    assert report["macro_recall"] == pytest.approx(5 / 12)
    assert report["macro_f1"] == pytest.approx(5 / 12)
    assert report["accuracy"] == pytest.approx(0.5)


def test_class_absent_and_never_predicted_gives_zeros_not_nan():
    cm = torch.tensor([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    row = classification_report(cm, ["a", "b", "c"])["per_class"][2]
    assert row == {"class": "c", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_classification_report_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    y_true = torch.randint(0, 6, (300,), generator=g)
    y_pred = torch.where(torch.rand(300, generator=g) < 0.6, y_true,
                         torch.randint(0, 5, (300,), generator=g))  # class 5 only by chance
    y_pred[y_pred == 5] = 4
    report = classification_report(confusion_matrix(y_true, y_pred, 6), list("abcdef"))
    p, r, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=range(6), zero_division=0)
    assert [row["precision"] for row in report["per_class"]] == pytest.approx(p.tolist())
    assert [row["recall"] for row in report["per_class"]] == pytest.approx(r.tolist())
    assert [row["f1"] for row in report["per_class"]] == pytest.approx(f1.tolist())
    assert [row["support"] for row in report["per_class"]] == support.tolist()
    assert report["macro_f1"] == pytest.approx(f1.mean())


def test_classification_report_checks_shape_against_names():
    with pytest.raises(ValueError, match="4×4"):
        classification_report(torch.zeros(3, 3), NAMES)


def test_topk_accuracy_by_hand_and_k_capped_at_num_classes():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [1.0, 2.0, 3.0]])
    y = torch.tensor([1, 0, 2])
    scores = topk_accuracy(logits, y, ks=(1, 2, 5))
    assert scores == pytest.approx({"top1_accuracy": 1 / 3, "top2_accuracy": 2 / 3,
                                    "top5_accuracy": 1.0})


def test_topk_accuracy_default_keys():
    assert set(topk_accuracy(torch.randn(4, 10), torch.arange(4))) == {"top1_accuracy",
                                                                      "top5_accuracy"}


def test_ece_by_hand():
    # Confidence 0.85 with accuracy 1/2, and 0.65 with accuracy 1: both gaps 0.35, half the images.
    probs = torch.tensor([[0.85, 0.15], [0.85, 0.15], [0.35, 0.65], [0.35, 0.65]])
    y = torch.tensor([0, 1, 1, 1])
    ece, bins = expected_calibration_error(probs, y, n_bins=10)
    assert ece == pytest.approx(0.35)
    full = {round(b["lower"], 1): b for b in bins if b["count"]}
    assert full[0.8] == pytest.approx({"lower": 0.8, "upper": 0.9, "confidence": 0.85,
                                       "accuracy": 0.5, "count": 2})
    assert full[0.6]["accuracy"] == 1.0 and full[0.6]["count"] == 2
    assert len(bins) == 10 and sum(b["count"] for b in bins) == 4
    json.dumps(bins, allow_nan=False)  # empty bins hold 0, not NaN


def _synthetic(n: int, k: int, accuracy_given_confidence, seed: int = 0):
    """Probabilities whose top class is right with probability ``accuracy_given_confidence(c)``."""
    g = torch.Generator().manual_seed(seed)
    confidence = 1 / k + (1 - 1 / k) * torch.rand(n, generator=g, dtype=torch.float64)
    pred = torch.randint(0, k, (n,), generator=g)
    right = torch.rand(n, generator=g, dtype=torch.float64) < accuracy_given_confidence(confidence)
    other = (pred + torch.randint(1, k, (n,), generator=g)) % k
    probs = ((1 - confidence) / (k - 1))[:, None].repeat(1, k)
    probs[torch.arange(n), pred] = confidence
    return probs.float(), torch.where(right, pred, other)


def test_ece_of_calibrated_predictor_is_near_zero():
    probs, y = _synthetic(200_000, 10, lambda c: c)
    ece, bins = expected_calibration_error(probs, y)
    assert ece < 0.01
    for b in bins:
        if b["count"] > 1000:
            assert b["accuracy"] == pytest.approx(b["confidence"], abs=0.03)


def test_ece_of_overconfident_predictor_is_large():
    probs, y = _synthetic(20_000, 10, lambda c: c - 0.3)
    ece, _ = expected_calibration_error(probs, y)
    assert ece == pytest.approx(0.3, abs=0.03)


def test_ece_rejects_logits():
    with pytest.raises(ValueError, match="probabilities"):
        expected_calibration_error(torch.tensor([[2.0, -1.0]]), torch.tensor([0]))


def test_most_confident_errors_sorted_by_confidence_of_wrong_prediction():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7], [0.95, 0.05]])
    y = torch.tensor([1, 1, 0, 0, 0])  # wrong: 0 (0.9), 2 (0.6), 3 (0.7)
    assert most_confident_errors(probs, y, 10).tolist() == [0, 3, 2]
    assert most_confident_errors(probs, y, 2).tolist() == [0, 3]
    assert most_confident_errors(probs, torch.tensor([0, 1, 1, 1, 0]), 5).tolist() == []


def test_evaluate_predictions_entry_point():
    logits = torch.tensor([[4.0, 0.0, 0.0, 0.0], [3.0, 1.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0],
                           [0.0, 0.0, 3.0, 0.0], [0.0, 5.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    y = torch.tensor([0, 1, 1, 2, 3, 3])  # class 3 is never predicted
    result = evaluate_predictions(logits, y, NAMES)
    assert set(result.metrics) == {"test_accuracy", "test_loss", "top1_accuracy", "top5_accuracy",
                                   "macro_precision", "macro_recall", "macro_f1", "ece"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.metrics.values())
    assert result.metrics["test_accuracy"] == pytest.approx(0.5)
    assert result.metrics["top1_accuracy"] == pytest.approx(0.5)
    assert result.metrics["top5_accuracy"] == 1.0
    assert result.metrics["test_loss"] == pytest.approx(F.cross_entropy(logits, y).item())
    assert result.per_class[3]["precision"] == 0.0
    assert result.confusion.tolist() == confusion_matrix(y, logits.argmax(1), 4).tolist()
    assert result.confident_errors.tolist() == [4, 1, 5]  # p = 0.98, 0.81, 0.48
    assert result.predictions.tolist() == [0, 0, 1, 2, 1, 1]
    assert result.confidences[0] == pytest.approx(logits[0].softmax(0).max().item())
    json.dumps(result.to_dict(), allow_nan=False)


def test_evaluate_predictions_checks_class_names_and_shapes():
    with pytest.raises(ValueError, match="3 class names"):
        evaluate_predictions(torch.randn(2, 4), torch.tensor([0, 1]), NAMES[:3])
    with pytest.raises(ValueError, match="labels of shape"):
        evaluate_predictions(torch.randn(2, 4), torch.tensor([0, 1, 2]), NAMES)
