import pytest

from deepvision.config import ConfigError, from_dict
from deepvision.engine import TrainConfig


def test_misspelt_key_names_the_key_and_suggests():
    with pytest.raises(ConfigError, match=r"train\.epoch\b.*did you mean 'epochs'"):
        from_dict(TrainConfig, {"epoch": 3}, "train")


def test_negative_epochs_is_refused():
    with pytest.raises(ConfigError, match=r"train\.epochs=-1 is out of range"):
        from_dict(TrainConfig, {"epochs": -1}, "train")


def test_unknown_choice_lists_the_allowed_values():
    with pytest.raises(ConfigError, match="train.optimizer='adam'.*sgd, adamw"):
        from_dict(TrainConfig, {"optimizer": "adam"}, "train")


def test_wrong_type_is_refused():
    with pytest.raises(ConfigError, match="train.batch_size='64' must be a whole number"):
        from_dict(TrainConfig, {"batch_size": "64"}, "train")


def test_valid_dict_builds_a_frozen_config():
    cfg = from_dict(TrainConfig, {"epochs": 2, "lr": 1, "milestones": [1]}, "train")
    assert cfg.epochs == 2 and cfg.lr == 1.0 and cfg.milestones == (1,)
    with pytest.raises(AttributeError):
        cfg.epochs = 3
