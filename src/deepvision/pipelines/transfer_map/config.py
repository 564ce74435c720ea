"""``params:transfer_map``: the label fractions and strategies of the grid, and what counts as
"as good as the best". The backbone, input size, label seed, learning rates and the step budget
come from ``params:fine_tune``, so the map and the ``fine_tune`` comparison agree."""

from __future__ import annotations

from dataclasses import dataclass

from deepvision.config import ConfigError, check_choice, check_range
from deepvision.engine.finetune import STRATEGIES


@dataclass(frozen=True)
class TransferMapConfig:
    """Rows (label fractions) and columns (strategies) of the map."""

    label_fractions: tuple[float, ...] = (0.01, 0.1, 1.0)  # fractions of the training labels, 0..1
    strategies: tuple[str, ...] = STRATEGIES   # probe | last_1 | last_half | all
    tolerance: float = 0.01                    # accuracy (0..1) a cheaper strategy may lose
    val_images: int | None = 2000              # val images the probe picks its stage on (null: all)
    steps: int | None = None                   # optimiser steps per cell (null: fine_tune's budget)

    def __post_init__(self) -> None:
        if not self.label_fractions or not self.strategies:
            raise ConfigError("transfer_map.label_fractions and transfer_map.strategies must "
                              "each list at least one value")
        for f in self.label_fractions:
            check_range(f, "transfer_map.label_fractions", 0, 1, low_open=True)
        for s in self.strategies:
            check_choice(s, STRATEGIES, "transfer_map.strategies")
        for name, values in (("label_fractions", self.label_fractions),
                             ("strategies", self.strategies)):
            if len(set(values)) != len(values):
                raise ConfigError(f"transfer_map.{name} lists a value twice: {list(values)}")
        check_range(self.tolerance, "transfer_map.tolerance", 0, 1)
        if self.val_images is not None:
            check_range(self.val_images, "transfer_map.val_images", 1)
        if self.steps is not None:
            check_range(self.steps, "transfer_map.steps", 1)
