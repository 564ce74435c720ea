"""Pure-torch evaluation: classification metrics, calibration, confident errors, inference cost."""

from deepvision.evaluation.cost import inference_cost
from deepvision.evaluation.metrics import (
    EvaluationResult,
    classification_report,
    confusion_matrix,
    evaluate_predictions,
    expected_calibration_error,
    most_confident_errors,
    topk_accuracy,
)
from deepvision.evaluation.tta import TTA_MODES, TestTimeAugment, with_tta

__all__ = ["TTA_MODES", "EvaluationResult", "TestTimeAugment", "classification_report",
           "confusion_matrix", "evaluate_predictions", "expected_calibration_error",
           "inference_cost", "most_confident_errors", "topk_accuracy", "with_tta"]
