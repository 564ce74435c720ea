import copy

import optuna
import pytest

from deepvision.config import ConfigError, from_dict
from deepvision.tuning import TuneConfig, apply_params, check_combinations, suggest


@pytest.mark.parametrize(("space", "message"), [
    ({"train.lr": {"type": "loguniform", "low": 0.1, "high": 1}},
     "'train.lr'] needs a distribution type, got 'loguniform': set type to one of log_uniform"),
    ({"train.lr": {"type": "uniform", "low": 0.1, "high": 0.1}},
     "'train.lr']: low=0.1 must be below high=0.1"),
    ({"train.lr": {"type": "log_uniform", "low": 0, "high": 0.1}},
     "'train.lr']: a log_uniform distribution needs low > 0, got 0; use type uniform"),
    ({"model.name": {"type": "categorical", "choices": []}},
     "'model.name']: categorical choices must be a non-empty list"),
    ({"train.lrr": {"type": "uniform", "low": 0.1, "high": 1}},
     "'train.lrr'] is not a parameter (did you mean 'train.lr'?). Searchable keys: "),
    ({"optim.lr": {"type": "uniform", "low": 0.1, "high": 1}}, "'optim.lr'] is not a parameter"),
    ({"augment.crop_pad": {"type": "int", "low": 0, "high": 4}},
     "did you mean 'augment.crop_padding'?"),
    ({"model.kwargs": {"type": "categorical", "choices": [1]}}, "model.kwargs.<factory argument>"),
    ({"train.checkpoint_dir": {"type": "categorical", "choices": ["a"]}}, "is set by every trial"),
    ({"train.batch_size": {"type": "uniform", "low": 8, "high": 64}},
     "'train.batch_size']: a uniform distribution does not fit this int parameter; use type int"),
    ({"train.nesterov": {"type": "int", "low": 0, "high": 1}}, "use type categorical"),
    ({"train.lr": {"type": "uniform", "low": 0.1, "high": 1, "log": True}},
     "a uniform distribution takes low, high; missing none, unknown ['log']"),
    ({"train.batch_size": {"type": "int", "low": 8, "high": 60, "step": 8}},
     "step=8 must be >= 1 and divide high - low = 52"),
    ({"augment.scale": {"type": "categorical", "choices": [[0.8, 1.0]]}},
     "search list-valued parameters as separate keys"),
    ({}, "tune.space must map at least one parameter"),
])
def test_bad_space_names_the_key_and_the_fix(space, message):
    with pytest.raises(ConfigError) as e:
        TuneConfig(space=space)
    assert message in str(e.value)


def test_other_fields_are_checked():
    with pytest.raises(ConfigError, match="tune.sampler='grid' is not allowed; choose one of"):
        TuneConfig(sampler="grid")
    with pytest.raises(ConfigError, match="use tune.direction: minimize"):
        TuneConfig(metric="val_loss")
    with pytest.raises(ConfigError, match="tune.epochs also fixes it"):
        TuneConfig(epochs=2, space={"train.epochs": {"type": "int", "low": 1, "high": 4}})
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) tune.n_trial "):
        from_dict(TuneConfig, {"n_trial": 3}, "tune")


def test_good_space_parses_from_a_params_dict():
    cfg = from_dict(TuneConfig, {"n_trials": 4, "timeout_s": 60, "space": {
        "train.lr": {"type": "log_uniform", "low": 1e-3, "high": 0.3},
        "train.batch_size": {"type": "int", "low": 16, "high": 64, "step": 16},
        "augment.hflip": {"type": "categorical", "choices": [True, False]},
        "model.kwargs.width": {"type": "uniform", "low": 0.5, "high": 2}}}, "tune")
    assert cfg.timeout_s == 60.0 and len(cfg.space) == 4


def test_combinations_the_base_params_reject_fail_before_any_trial():
    cfg = TuneConfig(epochs=2,
                     space={"train.warmup_epochs": {"type": "uniform", "low": 0, "high": 3}})
    with pytest.raises(ConfigError, match=r"tune.space\['train.warmup_epochs'\] can draw 3"):
        check_combinations(cfg, {"train": {}})
    cfg = TuneConfig(space={"model.name": {"type": "categorical", "choices": ["lenet5", "lenet9"]}})
    with pytest.raises(ConfigError, match="can draw 'lenet9'.*Known models: "):
        check_combinations(cfg, {})
    check_combinations(TuneConfig(), {"train": {"epochs": 3}})


def test_apply_params_sets_keys_and_mutates_nothing():
    base = {"train": {"lr": 0.1, "epochs": 3}, "model": {"name": "lenet5", "kwargs": {"a": 1}}}
    sampled = {"train.lr": 0.01, "augment.crop_padding": 2, "model.name": "resnet20",
               "model.kwargs.width": 16}
    before, sampled_before = copy.deepcopy(base), dict(sampled)
    out = apply_params(base, sampled)
    assert out == {"train": {"lr": 0.01, "epochs": 3}, "augment": {"crop_padding": 2},
                   "model": {"name": "resnet20", "kwargs": {"a": 1, "width": 16}}}
    assert base == before and sampled == sampled_before
    out["model"]["kwargs"]["a"] = 5
    assert base["model"]["kwargs"]["a"] == 1


def test_suggest_draws_every_key_within_its_distribution():
    space = TuneConfig(space={
        "train.lr": {"type": "log_uniform", "low": 1e-3, "high": 0.3},
        "train.momentum": {"type": "uniform", "low": 0.8, "high": 0.99},
        "train.batch_size": {"type": "int", "low": 16, "high": 64, "step": 16},
        "model.name": {"type": "categorical", "choices": ["lenet5", "resnet20"]}}).space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = suggest(study.ask(), space)
    assert list(values) == list(space)
    assert 1e-3 <= values["train.lr"] <= 0.3 and 0.8 <= values["train.momentum"] <= 0.99
    assert values["train.batch_size"] in (16, 32, 48, 64)
    assert values["model.name"] in ("lenet5", "resnet20")
