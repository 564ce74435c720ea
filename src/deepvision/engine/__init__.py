"""Pure-torch training engine: one loop (``fit``) for scratch training, fine-tuning and beyond."""

from deepvision.engine.config import TrainConfig
from deepvision.engine.device import resolve_device
from deepvision.engine.loop import (
    FitResult,
    NonFiniteLossError,
    TrainHooks,
    evaluate,
    fit,
    predict,
)

__all__ = ["FitResult", "NonFiniteLossError", "TrainConfig", "TrainHooks", "evaluate", "fit",
           "predict", "resolve_device"]
