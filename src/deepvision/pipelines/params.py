"""The edge where ``params:`` dicts become the library's frozen dataclasses.

``PARSERS`` maps each top-level parameter key to its parser; nodes call them on their first line and
the validation hook calls them before a pipeline starts, so both fail with the same message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from deepvision.compression.steps import CompressConfig
from deepvision.config import ConfigError, from_dict, warn_deprecated
from deepvision.data.shards import DataConfig
from deepvision.data.sources import SourceConfig
from deepvision.data.split import SplitConfig
from deepvision.data.transforms import AugmentConfig
from deepvision.engine.config import TrainConfig
from deepvision.engine.finetune import FineTuneConfig
from deepvision.models.registry import ModelConfig
from deepvision.serving import ExportConfig, PredictConfig
from deepvision.ssl.pretrain import PretrainConfig
from deepvision.tuning import TuneConfig

parse_ingest = partial(from_dict, SourceConfig, key="ingest")
parse_split = partial(from_dict, SplitConfig, key="split")
parse_augment = partial(from_dict, AugmentConfig, key="augment")
parse_model = partial(from_dict, ModelConfig, key="model")
parse_train = partial(from_dict, TrainConfig, key="train")
parse_data = partial(from_dict, DataConfig, key="data")

parse_fine_tune = partial(from_dict, FineTuneConfig, key="fine_tune")
parse_compress = partial(from_dict, CompressConfig, key="compress")
parse_pretrain = partial(from_dict, PretrainConfig, key="pretrain")
parse_predict = partial(from_dict, PredictConfig, key="predict")
parse_export = partial(from_dict, ExportConfig, key="export")


def parse_tune(tune: dict[str, Any]) -> TuneConfig:
    tune = dict(tune or {})
    if "retrain_best" in tune:  # a key that only ever existed to be refused when true
        retrain = tune.pop("retrain_best")
        if retrain:
            # A Kedro pipeline cannot branch on a parameter, and a retrain inside `tune` would
            # log the base train.* values as its MLflow params; the README's commands do it.
            raise ConfigError("tune.retrain_best: true is not supported by `kedro run`; after "
                              "the search, retrain with best_params.yml as the README shows "
                              "(section 'Hyperparameter search', retrain), and remove the key")
        warn_deprecated("tune.retrain_best", "nothing (remove the key: it has no effect)")
    return from_dict(TuneConfig, tune, "tune")


# The evaluate, study and transfer_map configs live with their pipelines, whose nodes import
# this module: a top-level import here would be circular, so they are imported when first parsed.
def parse_evaluate(evaluate: dict[str, Any]) -> Any:
    from deepvision.pipelines.evaluate.config import EvaluateConfig

    return from_dict(EvaluateConfig, evaluate, key="evaluate")


def parse_study(study: dict[str, Any]) -> Any:
    from deepvision.pipelines.study.config import StudyConfig

    return from_dict(StudyConfig, study, key="study")


def parse_transfer_map(transfer_map: dict[str, Any]) -> Any:
    from deepvision.pipelines.transfer_map.config import TransferMapConfig

    return from_dict(TransferMapConfig, transfer_map, key="transfer_map")


PARSERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "ingest": parse_ingest,
    "split": parse_split,
    "augment": parse_augment,
    "model": parse_model,
    "data": parse_data,
    "train": parse_train,
    "evaluate": parse_evaluate,
    "study": parse_study,
    "fine_tune": parse_fine_tune,
    "tune": parse_tune,
    "compress": parse_compress,
    "pretrain": parse_pretrain,
    "predict": parse_predict,
    "export": parse_export,
    "transfer_map": parse_transfer_map,
}
