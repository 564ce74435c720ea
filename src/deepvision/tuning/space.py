"""The search space: ``TuneConfig`` (what ``params:tune`` becomes), drawing one trial's values
(``suggest``) and laying them over the base parameters (``apply_params``).

Space keys are dotted parameter paths — ``train.lr``, ``augment.crop_padding``, ``model.name``,
``model.kwargs.<argument>`` — so a tuned value lands exactly where ``kedro run`` would read it.
Everything that can be checked is checked before the first trial, so a typo never costs an hour.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import optuna

from deepvision.config import ConfigError, check_choice, check_range, from_dict
from deepvision.data.transforms import AugmentConfig
from deepvision.engine.config import TrainConfig
from deepvision.models.registry import ModelConfig

SECTIONS: dict[str, type] = {"train": TrainConfig, "augment": AugmentConfig, "model": ModelConfig}
# Spec keys per distribution type: (required, optional).
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "log_uniform": (("low", "high"), ()),
    "uniform": (("low", "high"), ()),
    "int": (("low", "high"), ("step",)),
    "categorical": (("choices",), ()),
}
# What optuna can store as a categorical choice.
SCALARS = (type(None), bool, int, float, str)
# Set by every trial (see ``trial_overrides``), so searching them would be silently undone.
FIXED_PER_TRIAL = ("train.checkpoint_dir", "train.run_name", "train.resume", "train.progress")
METRICS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss")


def _default_space() -> dict[str, dict[str, Any]]:
    return {"train.lr": {"type": "log_uniform", "low": 0.01, "high": 0.5},
            "train.weight_decay": {"type": "log_uniform", "low": 1e-5, "high": 5e-3},
            "train.label_smoothing": {"type": "uniform", "low": 0.0, "high": 0.2},
            "augment.crop_padding": {"type": "int", "low": 0, "high": 2},
            "augment.rotate_degrees": {"type": "uniform", "low": 0.0, "high": 15.0}}


@dataclass(frozen=True)
class TuneConfig:
    """``params:tune``: the study, its budget, sampler and pruner, and the space to search."""

    study_name: str = "deepvision"        # trials accumulate under this name; a rerun resumes it
    storage: str | None = "sqlite:///data/07_model_output/tune.db"  # SQLAlchemy URL; null = memory
    n_trials: int = 20                    # finished (complete + pruned) trials the study aims for
    timeout_s: float | None = None        # stop starting new trials after this many seconds
    direction: str = "maximize"           # maximize | minimize the metric
    metric: str = "val_accuracy"          # per-epoch record key reported and optimised
    sampler: str = "tpe"                  # tpe | random
    pruner: str = "median"                # median | hyperband | none
    seed: int = 0                         # sampler seed
    n_startup_trials: int = 5             # random trials before TPE; complete ones before pruning
    prune_after_epochs: int = 3           # median pruner: no pruning before this epoch
    epochs: int | None = 20               # per-trial train.epochs override; null = train.epochs
    heartbeat_s: int = 60                 # a running trial's heartbeat; silent 2x this = FAIL
    space: dict[str, dict[str, Any]] = field(default_factory=_default_space)  # key → distribution

    def __post_init__(self) -> None:
        if not self.study_name:
            raise ConfigError("tune.study_name must not be empty")
        check_range(self.n_trials, "tune.n_trials", 1)
        if self.timeout_s is not None:
            check_range(self.timeout_s, "tune.timeout_s", 0, low_open=True)
        check_choice(self.direction, ("maximize", "minimize"), "tune.direction")
        check_choice(self.metric, METRICS, "tune.metric")
        _check_direction(self.metric, self.direction)
        check_choice(self.sampler, ("tpe", "random"), "tune.sampler")
        check_choice(self.pruner, ("median", "hyperband", "none"), "tune.pruner")
        check_range(self.n_startup_trials, "tune.n_startup_trials", 0)
        check_range(self.heartbeat_s, "tune.heartbeat_s", 1)
        if self.epochs is not None:
            check_range(self.epochs, "tune.epochs", 1)
        object.__setattr__(self, "space", check_space(self.space))
        if self.epochs is not None and "train.epochs" in self.space:
            raise ConfigError("tune.space['train.epochs'] is searched but tune.epochs also fixes "
                              "it for every trial; remove one of them")


def _check_direction(metric: str, direction: str) -> None:
    wanted = "minimize" if metric.endswith("loss") else "maximize"
    if direction != wanted:
        raise ConfigError(f"tune.direction={direction!r} with tune.metric={metric!r} would search "
                          f"for the worst model; use tune.direction: {wanted}")


def check_space(space: Any) -> dict[str, dict[str, Any]]:
    """Validate every key and distribution of ``space``; returns a private copy of it."""
    if not isinstance(space, dict) or not space:
        raise ConfigError("tune.space must map at least one parameter (e.g. 'train.lr') to a "
                          "distribution such as {type: log_uniform, low: 0.001, high: 0.3}")
    checked = {}
    for key, spec in space.items():
        hint = check_key(key)
        checked[key] = _check_spec(key, spec)
        _check_kind(key, checked[key]["type"], hint)
    return checked


def check_key(key: str) -> Any:
    """Fail unless ``key`` names a real parameter; returns its type hint (``Any`` for kwargs)."""
    section, _, name = key.partition(".")
    if section == "model" and name.startswith("kwargs.") and len(name) > len("kwargs."):
        return Any
    cls = SECTIONS.get(section)
    names = [f.name for f in dataclasses.fields(cls)] if cls else []
    if cls is None or name not in names or name == "kwargs" or key in FIXED_PER_TRIAL:
        allowed = sorted(f"{s}.{f.name}" for s, c in SECTIONS.items()
                         for f in dataclasses.fields(c)
                         if f.name != "kwargs" and f"{s}.{f.name}" not in FIXED_PER_TRIAL)
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        why = "is set by every trial" if key in FIXED_PER_TRIAL else "is not a parameter"
        raise ConfigError(f"tune.space[{key!r}] {why}{hint}. Searchable keys: "
                          f"{', '.join(allowed)}, model.kwargs.<factory argument>")
    return typing.get_type_hints(cls)[name]


def _check_spec(key: str, spec: Any) -> dict[str, Any]:
    where = f"tune.space[{key!r}]"
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{where} needs a distribution type, got {kind!r}: set type to one of "
                          f"{', '.join(DISTRIBUTIONS)}")
    required, optional = DISTRIBUTIONS[kind]
    missing = [k for k in required if k not in spec]
    unknown = sorted(set(spec) - {"type", *required, *optional})
    if missing or unknown:
        raise ConfigError(f"{where}: a {kind} distribution takes "
                          f"{', '.join((*required, *optional))}; missing {missing or 'none'}, "
                          f"unknown {unknown or 'none'}")
    spec = copy.deepcopy(spec)
    if kind == "categorical":
        _check_choices(where, spec["choices"])
        spec["choices"] = list(spec["choices"])
    else:
        _check_bounds(where, kind, spec)
    return spec


def _check_choices(where: str, choices: Any) -> None:
    if not isinstance(choices, list | tuple) or not choices:
        raise ConfigError(f"{where}: categorical choices must be a non-empty list, got {choices!r}")
    bad = [c for c in choices if not isinstance(c, SCALARS)]
    if bad:
        raise ConfigError(f"{where}: categorical choices must be numbers, strings, booleans or "
                          f"null, got {bad!r}; search list-valued parameters as separate keys")


def _check_bounds(where: str, kind: str, spec: dict[str, Any]) -> None:
    number = int if kind == "int" else int | float
    for k in ("low", "high", "step"):
        v = spec.get(k, 1)
        if isinstance(v, bool) or not isinstance(v, number):
            whole = "a whole number" if kind == "int" else "a number"
            raise ConfigError(f"{where}: {k}={v!r} must be {whole}")
    low, high, step = spec["low"], spec["high"], spec.get("step", 1)
    if low >= high:
        raise ConfigError(f"{where}: low={low!r} must be below high={high!r} (for a fixed value "
                          "set it in the base parameters instead)")
    if kind == "log_uniform" and low <= 0:
        raise ConfigError(f"{where}: a log_uniform distribution needs low > 0, got {low!r}; "
                          "use type uniform to include 0")
    if kind == "int" and (step < 1 or (high - low) % step):
        raise ConfigError(f"{where}: step={step!r} must be >= 1 and divide high - low = "
                          f"{high - low}")


def _check_kind(key: str, kind: str, hint: Any) -> None:
    """Whole-number fields take int or categorical; bool and str fields only categorical."""
    if hint is Any:
        return
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    allowed = {int: ("int", "categorical"), float: (*DISTRIBUTIONS,)}.get(hint, ("categorical",))
    if kind not in allowed:
        raise ConfigError(f"tune.space[{key!r}]: a {kind} distribution does not fit this "
                          f"{getattr(hint, '__name__', hint)} parameter; use type "
                          f"{' or '.join(allowed)}")


def suggest(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One value per space key (flat dotted keys), drawn through ``trial``."""
    values: dict[str, Any] = {}
    for key, spec in space.items():
        kind = spec["type"]
        if kind == "categorical":
            values[key] = trial.suggest_categorical(key, spec["choices"])
        elif kind == "int":
            values[key] = trial.suggest_int(key, spec["low"], spec["high"],
                                            step=spec.get("step", 1))
        else:
            values[key] = trial.suggest_float(key, spec["low"], spec["high"],
                                              log=kind == "log_uniform")
    return values


def apply_params(base: dict[str, dict[str, Any]], sampled: dict[str, Any]
                 ) -> dict[str, dict[str, Any]]:
    """``base`` ({"train": {...}, "augment": {...}, "model": {...}}) with the flat dotted
    ``sampled`` values set; neither input is changed."""
    params = copy.deepcopy(dict(base))
    for section in SECTIONS:
        params[section] = dict(params.get(section) or {})
    for key, value in sampled.items():
        check_key(key)
        section, _, name = key.partition(".")
        if name.startswith("kwargs."):
            params[section]["kwargs"] = {**(params[section].get("kwargs") or {}),
                                         name[len("kwargs."):]: value}
        else:
            params[section][name] = value
    return params


def trial_overrides(params: dict[str, dict[str, Any]], epochs: int | None
                    ) -> dict[str, dict[str, Any]]:
    """What every trial changes: no checkpoints, no progress bar, optionally fewer epochs."""
    train = {**params.get("train", {}), "checkpoint_dir": None, "progress": "off"}
    if epochs is not None:
        train["epochs"] = epochs
    return {**params, "train": train}


def check_combinations(cfg: TuneConfig, base: dict[str, dict[str, Any]]) -> None:
    """Apply each end of every range and every choice to ``base`` and parse the result, so a
    value the configs reject fails now, naming the key, instead of at trial 17."""
    _parse_all(trial_overrides(apply_params(base, {}), cfg.epochs))
    for key, spec in cfg.space.items():
        for value in _probe_values(spec):
            params = trial_overrides(apply_params(base, {key: value}), cfg.epochs)
            try:
                _parse_all(params)
            except ConfigError as e:
                raise ConfigError(f"tune.space[{key!r}] can draw {value!r}, which the base "
                                  f"parameters reject: {e}") from e


def _parse_all(params: dict[str, dict[str, Any]]) -> None:
    for section, cls in SECTIONS.items():
        from_dict(cls, params[section], section)


def _probe_values(spec: dict[str, Any]) -> list[Any]:
    if spec["type"] == "categorical":
        return list(spec["choices"])
    return [spec["low"], spec["high"]]
