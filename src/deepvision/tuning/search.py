"""Hyperparameter search with Optuna around the one training loop.

``run_search`` opens (or resumes) a named study in a SQLAlchemy storage and runs trials until the
study holds ``n_trials`` finished ones (complete or pruned): a rerun continues where the last one
stopped, and several processes pointed at the same storage share that budget. Each trial draws
values from the space, lays them over the base parameters and hands the nested dicts to an
objective; ``make_training_objective`` builds the usual one, which is ``fit`` plus a pruning
report per epoch. Callers observe trials through ``TuneCallbacks`` (the Kedro layer logs them to
MLflow), so this package imports neither Kedro nor MLflow.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from deepvision.config import ConfigError, from_dict
from deepvision.data.imageset import ImageSet
from deepvision.data.transforms import AugmentConfig, build_augment, normalize
from deepvision.engine.config import TrainConfig
from deepvision.engine.loop import NonFiniteLossError, TrainHooks, fit
from deepvision.models.registry import ModelConfig
from deepvision.tuning.space import (
    TuneConfig,
    apply_params,
    check_combinations,
    suggest,
    trial_overrides,
)

log = logging.getLogger(__name__)

Params = dict[str, dict[str, Any]]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# SQLite serialises writers; a worker waits this long for the lock instead of failing at once
# (Python's default is 5 s, too short when several workers finish trials together).
SQLITE_LOCK_TIMEOUT_S = 60


def _ignore(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class TuneCallbacks:
    """Optional observers of a search; flat dotted params, states COMPLETE | PRUNED | FAIL."""

    trial_started: Callable[[int, dict[str, Any]], None] = _ignore
    epoch_end: Callable[[int, dict[str, float]], None] = _ignore
    trial_finished: Callable[[int, str, float | None, dict[str, Any], list[dict[str, float]]],
                             None] = _ignore


class TrialReporter:
    """What an objective sees of its trial: report a metric per step and be pruned."""

    def __init__(self, trial: optuna.Trial, callbacks: TuneCallbacks | None = None) -> None:
        self._trial = trial
        self._callbacks = callbacks or TuneCallbacks()
        self.history: list[dict[str, float]] = []
        self.last_value: float | None = None

    @property
    def number(self) -> int:
        return self._trial.number

    def report(self, step: int, value: float) -> None:
        """Record ``value`` at ``step``; raise ``optuna.TrialPruned`` if the pruner says so."""
        self._trial.report(value, step)
        self.last_value = value
        if self._trial.should_prune():
            raise optuna.TrialPruned(f"trial {self.number} pruned at step {step} "
                                     f"with value {value:.4g}")

    def epoch_end(self, record: dict[str, float], metric: str) -> None:
        """``fit``'s ``on_epoch_end``: pass the record on, then report ``record[metric]`` (a
        ``val_`` metric only on the epochs ``train.val_every`` validates)."""
        if metric not in record and not metric.startswith("val_"):
            raise KeyError(f"tune.metric={metric!r} is not in the epoch record (keys: "
                           f"{', '.join(record)})")
        self.history.append(dict(record))
        self._callbacks.epoch_end(self.number, dict(record))
        if metric in record:
            self.report(int(record["epoch"]), float(record[metric]))


@dataclass(frozen=True)
class SearchResult:
    best_params: dict[str, Any]          # flat dotted keys, e.g. {"train.lr": 0.05}
    best_value: float
    best_trial: int                      # trial number
    trials: list[dict[str, Any]]         # number, state, value, params, duration_s; all trials
    study: optuna.Study = field(repr=False, compare=False)


class _SurplusTrialError(RuntimeError):
    """Another worker filled the budget while this trial was being created."""


def run_search(cfg: TuneConfig, objective: Callable[[Params, TrialReporter], float],
               base_params: Params, callbacks: TuneCallbacks | None = None) -> SearchResult:
    """Run trials until the study ``cfg.study_name`` has ``cfg.n_trials`` finished ones (or
    ``cfg.timeout_s`` passes); objective errors stop the search and propagate."""
    check_combinations(cfg, base_params)
    study = open_study(cfg)
    remaining = cfg.n_trials - _count(study, FINISHED)
    if remaining <= 0:
        log.info("Study %r already has %d finished trials (tune.n_trials=%d); nothing to run.",
                 cfg.study_name, cfg.n_trials - remaining, cfg.n_trials)
    else:
        log.info("Study %r: running up to %d trials.", cfg.study_name, remaining)
        study.optimize(_trial_function(cfg, objective, base_params, callbacks),
                       n_trials=remaining, timeout=cfg.timeout_s, catch=(_SurplusTrialError,),
                       callbacks=[partial(_stop_when_full, n_trials=cfg.n_trials)])
    return summarize(study)


def open_study(cfg: TuneConfig) -> optuna.Study:
    """Create the study, or load it if the storage already has one of that name."""
    study = optuna.create_study(study_name=cfg.study_name,
                                storage=_storage(cfg.storage, cfg.heartbeat_s),
                                load_if_exists=True, direction=cfg.direction,
                                pruner=_pruner(cfg))
    _check_same_objective(study, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    # A resumed study continues with a fresh stream of random numbers instead of replaying the
    # first run's (which would repeat its startup trials); a new study is reproducible from seed.
    study.sampler = _sampler(cfg, cfg.seed + len(study.get_trials(deepcopy=False)))
    return study


def summarize(study: optuna.Study) -> SearchResult:
    """The best trial and a plain record of every trial of ``study``."""
    trials = study.get_trials(deepcopy=False)
    if not any(t.state == TrialState.COMPLETE for t in trials):
        states = Counter(t.state.name for t in trials)
        raise RuntimeError(f"study {study.study_name!r} has no completed trial ({dict(states)}; "
                           "diverging trials are pruned): raise tune.n_trials or tune.timeout_s, "
                           "narrow tune.space, or use tune.pruner: none")
    best = study.best_trial
    return SearchResult(dict(best.params), float(best.value), best.number,
                        [_trial_row(t) for t in trials], study)


def _trial_function(cfg: TuneConfig, objective: Callable[[Params, TrialReporter], float],
                    base_params: Params, callbacks: TuneCallbacks | None
                    ) -> Callable[[optuna.Trial], float]:
    hooks = callbacks or TuneCallbacks()

    def run(trial: optuna.Trial) -> float:
        if _count(trial.study, (*FINISHED, TrialState.RUNNING), below=trial.number) >= cfg.n_trials:
            trial.study.stop()
            raise _SurplusTrialError(f"the study already has {cfg.n_trials} trials")
        sampled = suggest(trial, cfg.space)
        reporter = TrialReporter(trial, hooks)
        hooks.trial_started(trial.number, dict(sampled))

        def finish(state: str, value: float | None) -> None:
            hooks.trial_finished(trial.number, state, value, dict(sampled), reporter.history)

        try:
            value = float(objective(apply_params(base_params, sampled), reporter))
        except optuna.TrialPruned:
            finish("PRUNED", reporter.last_value)
            raise
        except BaseException:
            finish("FAIL", None)
            raise
        # Optuna records a NaN objective value as a failed trial.
        finish("COMPLETE" if math.isfinite(value) else "FAIL", value)
        return value

    return run


def _stop_when_full(study: optuna.Study, _: FrozenTrial, n_trials: int) -> None:
    """Stop once finished plus running trials (of every worker) reach the budget."""
    if _count(study, (*FINISHED, TrialState.RUNNING)) >= n_trials:
        study.stop()


def _count(study: optuna.Study, states: tuple[TrialState, ...], below: int | None = None) -> int:
    trials = study.get_trials(deepcopy=False, states=states)
    return sum(1 for t in trials if below is None or t.number < below)


def _storage(url: str | None, heartbeat_s: float) -> optuna.storages.BaseStorage | None:
    """An RDB storage with a heartbeat; SQLite files get their folder and a patient lock, server
    databases a liveness check of pooled connections (they outlive a database restart)."""
    if url is None:
        return None
    parsed = sqlalchemy.engine.make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    kwargs = ({"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT_S}} if sqlite
              else {"pool_pre_ping": True})
    attempts = 5
    for attempt in range(1, attempts + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs,
                                                  heartbeat_interval=heartbeat_s)
        except sqlalchemy.exc.SQLAlchemyError:
            # Workers starting together on a new database race to create its tables ("table
            # already exists", seen in about half of such starts); the loser finds them on a
            # second look.
            if attempt == attempts:
                raise
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


def _sampler(cfg: TuneConfig, seed: int) -> optuna.samplers.BaseSampler:
    if cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=cfg.n_startup_trials)


def _pruner(cfg: TuneConfig) -> optuna.pruners.BasePruner:
    if cfg.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=cfg.n_startup_trials,
                                           n_warmup_steps=cfg.prune_after_epochs)
    if cfg.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto")
    return optuna.pruners.NopPruner()


def _check_same_objective(study: optuna.Study, cfg: TuneConfig) -> None:
    """A resumed study must keep its direction and metric, or its trials would not compare."""
    if study.direction.name.lower() != cfg.direction:
        raise ConfigError(f"study {cfg.study_name!r} in {cfg.storage} was made to "
                          f"{study.direction.name.lower()}; keep tune.direction or choose a new "
                          "tune.study_name")
    metric = study.user_attrs.get("metric")
    if metric is None:
        study.set_user_attr("metric", cfg.metric)
    elif metric != cfg.metric:
        raise ConfigError(f"study {cfg.study_name!r} in {cfg.storage} optimises {metric!r}, not "
                          f"tune.metric={cfg.metric!r}; keep the metric or choose a new "
                          "tune.study_name")


def _trial_row(t: FrozenTrial) -> dict[str, Any]:
    return {"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params),
            "duration_s": t.duration.total_seconds() if t.duration is not None else None}


# --- the training objective -----------------------------------------------------------------------

def make_training_objective(train_split: ImageSet, val_split: ImageSet, cfg: TuneConfig
                            ) -> Callable[[Params, TrialReporter], float]:
    """An objective that trains the trial's model with ``fit`` (the one loop), reports
    ``cfg.metric`` every epoch for pruning and returns its best value over the epochs."""
    if train_split.mean is None or train_split.std is None:
        raise ValueError("train_split has no normalisation statistics; run the prepare pipeline")
    if cfg.metric.startswith("val_") and not len(val_split):
        raise ValueError(f"tune.metric={cfg.metric!r} needs a validation split, but it is empty")
    best = max if cfg.direction == "maximize" else min
    mean, std = train_split.mean, train_split.std

    def objective(params: Params, reporter: TrialReporter) -> float:
        params = trial_overrides(params, cfg.epochs)
        train_cfg = from_dict(TrainConfig, params["train"], "train")
        augment = build_augment(from_dict(AugmentConfig, params["augment"], "augment"), mean,
                                std, train_split.num_classes)
        model = from_dict(ModelConfig, params["model"], "model").create(
            train_split.num_classes, train_split.channels)
        val = (val_split.images, val_split.labels) if len(val_split) else None
        try:
            hooks = TrainHooks(train_transform=augment,
                               eval_transform=partial(normalize, mean=mean, std=std),
                               on_epoch_end=partial(reporter.epoch_end, metric=cfg.metric))
            result = fit(model, (train_split.images, train_split.labels), val, train_cfg, hooks)
        except NonFiniteLossError as e:
            # Divergence is an answer about these values, not a bug: prune and keep searching.
            log.warning("Trial %d diverged; pruning it: %s", reporter.number, e)
            raise optuna.TrialPruned(str(e)) from e
        return best(r[cfg.metric] for r in result.history if cfg.metric in r)

    return objective


