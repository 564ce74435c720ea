"""``params:evaluate``: how the test-set evaluation bins, lists and times the model."""

from __future__ import annotations

from dataclasses import dataclass

from deepvision.config import check_choice, check_range
from deepvision.evaluation.tta import TTA_MODES


@dataclass(frozen=True)
class EvaluateConfig:
    """Calibration bins, the error grid, and the inference-cost measurement (latency is always
    per image at batch 1; device, eval batch size and precision come from ``params:train``)."""

    calibration_bins: int = 15          # equal-width confidence bins (ECE, reliability plot)
    confident_errors: int = 16          # images in the most-confident-errors grid
    throughput_batch_size: int = 256    # images per forward pass when measuring throughput
    warmup: int = 5                     # untimed forward passes before timing
    repeats: int = 20                   # timed forward passes; the median is reported
    max_seconds: float = 0.25           # seconds; a timing phase stops early after this
    onnx: bool = True                   # also time the ONNX export in ONNX Runtime (CPU)
    tta: str = "none"                   # test-time augmentation: none | flip | flip_translate

    def __post_init__(self) -> None:
        check_range(self.calibration_bins, "evaluate.calibration_bins", 1)
        check_range(self.confident_errors, "evaluate.confident_errors", 0)
        check_range(self.throughput_batch_size, "evaluate.throughput_batch_size", 1)
        check_range(self.warmup, "evaluate.warmup", 0)
        check_range(self.repeats, "evaluate.repeats", 1)
        check_range(self.max_seconds, "evaluate.max_seconds", 0, low_open=True)
        check_choice(self.tta, TTA_MODES, "evaluate.tta")
