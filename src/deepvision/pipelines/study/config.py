"""``params:study``: the architectures compared and the one training budget they share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from deepvision.config import ConfigError, check_range, from_dict
from deepvision.engine.config import TrainConfig
from deepvision.models.registry import check_model_name

# An architecture's name becomes its Kedro namespace and MLflow run name: a "." would nest
# namespaces and a ":" (tv:<name>) is not a valid dataset name part.
_NAMESPACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class StudyConfig:
    """Which registered architectures to train, with what seed, on which shared budget."""

    # registry names, one pipeline each, smallest first
    architectures: tuple[str, ...] = ("lenet5", "resnet20", "densenet_cifar", "vgg11_bn",
                                      "preact_resnet18", "resnet18")
    seed: int = 0                                       # weight-initialisation seed of each model
    # overrides of params:train for every model (the shared budget)
    train: dict[str, Any] = field(default_factory=lambda: {
        "epochs": 15, "threads": 1, "checkpoint_dir": None})

    def __post_init__(self) -> None:
        if not self.architectures:
            raise ConfigError("study.architectures is empty; list at least one model name")
        duplicates = sorted({a for a in self.architectures if self.architectures.count(a) > 1})
        if duplicates:
            raise ConfigError(f"study.architectures lists {', '.join(duplicates)} more than once")
        for name in self.architectures:
            if not _NAMESPACE.fullmatch(name):
                raise ConfigError(f"study.architectures: {name!r} cannot name a Kedro namespace; "
                                  "use registered names made of letters, digits and _")
            check_model_name(name)
        check_range(self.seed, "study.seed", 0)
        from_dict(TrainConfig, self.train, key="study.train")  # typos in the budget fail now
