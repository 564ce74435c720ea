"""The edge where ``params:`` dicts become the library's frozen dataclasses.

``PARSERS`` maps each top-level parameter key to its parser; nodes call them on their first line and
the validation hook calls them before a pipeline starts, so both fail with the same message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from deepvision.config import from_dict
from deepvision.data.sources import SourceConfig
from deepvision.data.split import SplitConfig
from deepvision.data.transforms import AugmentConfig
from deepvision.engine.config import TrainConfig
from deepvision.models.registry import ModelConfig

parse_ingest = partial(from_dict, SourceConfig, key="ingest")
parse_split = partial(from_dict, SplitConfig, key="split")
parse_augment = partial(from_dict, AugmentConfig, key="augment")
parse_model = partial(from_dict, ModelConfig, key="model")
parse_train = partial(from_dict, TrainConfig, key="train")

PARSERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "ingest": parse_ingest,
    "split": parse_split,
    "augment": parse_augment,
    "model": parse_model,
    "train": parse_train,
}
