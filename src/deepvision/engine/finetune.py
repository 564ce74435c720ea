"""Transfer learning as configuration around the one loop (``fit``), never a second loop:

- ``linear_probe``: the backbone frozen (its norm layers stay in eval mode), only the head trains.
  The backbone's features do not change, so they are computed once and the head is fitted on them.
- ``stage_probe``: the same, once per stage of the backbone (``models.stages``): every stage's
  pooled features come out of one forward pass, each gets its own linear classifier, and the
  best stage on the validation split becomes the model (the backbone cut after it).
- ``fine_tune``: the last ``trainable_stages`` stages and the head train (all stages by default),
  the rest frozen with its norm layers in eval mode; the backbone at ``backbone_lr_factor`` of the
  head's rate. ``trainable_stages = 0`` is the linear probe.
- ``gradual``: the head first, then the backbone's stages unfrozen one by one from the top, each
  phase a ``fit`` with the layers trained so far (Howard & Ruder, ULMFiT, 2018).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from deepvision.config import ConfigError, check_choice, check_range, from_dict
from deepvision.engine.config import TrainConfig
from deepvision.engine.device import resolve_device
from deepvision.engine.loop import (
    EvalTransform,
    FitResult,
    TrainHooks,
    TrainTransform,
    fit,
    predict,
)
from deepvision.models.heads import find_head, freeze, set_submodule, unfreeze
from deepvision.models.stages import (
    StageTaps,
    stage_groups,
    stage_names,
    stage_parameters,
    truncate,
)

MODES = ("fine_tune", "gradual", "stage_probe")
Data = tuple[Tensor, Tensor]


def head_lr_scale(name: str, factor: float, head: str = "head.") -> float:
    """``TrainHooks.lr_scale`` of fine-tuning: the head (parameters under ``head``) at the full
    rate, the backbone at ``factor`` of it (a module-level function, so it pickles into DDP
    ranks)."""
    return 1.0 if name.startswith(head) else factor


def stage_features(model: nn.Module, x: Tensor, cfg: TrainConfig, eval_transform: EvalTransform,
                   stages: list[int] | None = None) -> list[Tensor]:
    """Pooled features of ``stages`` (default all) for every input: one N × C tensor per stage,
    all from one pass of the frozen model (see ``models.stages.StageTaps``)."""
    taps = StageTaps(model, stages)
    flat = predict(taps, x, cfg.eval_batch_size, eval_transform, resolve_device(cfg.device),
                   cfg.precision, cfg.channels_last)
    return list(flat.split(taps.widths, dim=1))


def fit_linear(train: Data, val: Data | None, num_classes: int, cfg: TrainConfig) -> FitResult:
    """A linear classifier on fixed features through ``fit``. The features are centred and
    divided by one scale per feature set, the RMS of their training standard deviations: early
    stages' features sit on very different scales from late ones and one learning rate should
    suit them all. (Not one scale per feature: with a dozen labels many of Lite0's last-stage
    features never fire, and dividing by their ~0 spread wrecked the probe on digits, val
    accuracy 0.07.) The scaling is then folded into the layer, so the returned ``nn.Linear``
    takes the raw features."""
    mean = train[0].mean(0)
    scale = train[0].std(0).pow(2).mean().sqrt().clamp_min(1e-12)
    std = scale.expand_as(mean)

    def scaled(data: Data) -> Data:
        return (data[0] - mean) / std, data[1]

    head = nn.Linear(train[0].shape[1], num_classes)
    result = fit(head, scaled(train), scaled(val) if val is not None else None,
                 replace(cfg, channels_last=False, checkpoint_dir=None))
    folded = nn.Linear(head.in_features, num_classes)
    with torch.no_grad():
        folded.weight.copy_(result.model.weight / std)
        folded.bias.copy_(result.model.bias - folded.weight @ mean)
    return replace(result, model=folded)


@dataclass
class StageProbes:
    """One linear classifier per probed stage, in stage order."""

    indices: list[int]           # 0-based stage indices probed
    names: list[str]             # their modules
    widths: list[int]            # their feature widths
    results: list[FitResult]     # the probes (``result.model`` an ``nn.Linear`` on raw features)
    feature_seconds: float       # computing the training split's features (all stages, once)

    @property
    def best(self) -> int:
        """Position of the probe with the best monitored metric (later stage on ties)."""
        return max(range(len(self.results)), key=lambda j: (self.results[j].best_metric, j))

    def rows(self) -> list[dict[str, Any]]:
        """One table row per stage: module, width, best validation accuracy, fit seconds."""
        return [{"stage": i + 1, "module": n, "features": w,
                 "val_accuracy": max((h["val_accuracy"] for h in r.history
                                      if "val_accuracy" in h), default=math.nan),
                 "train_seconds": r.train_seconds, "best": j == self.best}
                for j, (i, n, w, r) in enumerate(zip(self.indices, self.names, self.widths,
                                                     self.results, strict=True))]


def probe_stages(model: nn.Module, train: Data, val: Data | None, cfg: TrainConfig,
                 eval_transform: EvalTransform, stages: list[int] | None = None) -> StageProbes:
    """Fit a linear classifier on the cached pooled features of each of ``stages``."""
    model = freeze(copy.deepcopy(model))
    indices = list(range(len(stage_names(model))) if stages is None else stages)
    start = time.perf_counter()
    train_f = stage_features(model, train[0], cfg, eval_transform, indices)
    seconds = time.perf_counter() - start
    val_f = (stage_features(model, val[0], cfg, eval_transform, indices) if val is not None
             else [None] * len(indices))
    classes = int(train[1].max()) + 1
    results = [fit_linear((f, train[1]), (v, val[1]) if v is not None else None, classes,
                          replace(cfg, run_name=f"{cfg.run_name}-stage{i + 1}"))
               for i, f, v in zip(indices, train_f, val_f, strict=True)]
    return StageProbes(indices, [stage_names(model)[i] for i in indices],
                       [f.shape[1] for f in train_f], results, seconds)


def with_probe(model: nn.Module, stage: int, head: nn.Linear) -> nn.Module:
    """A copy of ``model`` cut after stage ``stage`` (0-based) with ``head`` as its classifier;
    its ``spec`` records the cut so a bundle rebuilds it."""
    model = copy.deepcopy(model)
    if stage + 1 < len(stage_names(model)):
        truncate(model, stage + 1)
        if hasattr(model, "spec"):
            model.spec = replace(model.spec, kwargs={**model.spec.kwargs, "stages": stage + 1})
    freeze(model)  # what trained is what requires grad: only the probe
    set_submodule(model, find_head(model)[0], copy.deepcopy(head).requires_grad_(True))
    return model.eval()


def stage_probe(model: nn.Module, train: Data, val: Data | None, cfg: TrainConfig,
                eval_transform: EvalTransform, stages: list[int] | None = None,
                ) -> tuple[FitResult, StageProbes]:
    """Every stage probed; the result's model is the best stage's probe (``with_probe``), its
    history that probe's, its seconds the features' plus all the probes' fits."""
    probes = probe_stages(model, train, val, cfg, eval_transform, stages)
    best = probes.results[probes.best]
    seconds = probes.feature_seconds + sum(r.train_seconds for r in probes.results)
    stage = probes.indices[probes.best]
    by_stage = [r["val_accuracy"] for r in probes.rows()]
    return replace(best, model=with_probe(model, stage, best.model), train_seconds=seconds,
                   config={**best.config, "probe_stage": stage + 1,
                           "stage_val_accuracy": by_stage}), probes


def _backbone_at(factor: float, train_transform: TrainTransform | None,
                 eval_transform: EvalTransform) -> TrainHooks:
    """The hooks of fine-tuning and gradual unfreezing: the backbone at ``factor`` × lr."""
    return TrainHooks(train_transform, eval_transform,
                      lr_scale=partial(head_lr_scale, factor=factor))


def linear_probe(model: nn.Module, train: Data, val: Data | None, cfg: TrainConfig,
                 eval_transform: EvalTransform, train_transform: TrainTransform | None = None,
                 cache_features: bool = True) -> FitResult:
    """Train ``model.head`` only. With ``cache_features`` the frozen body runs once per image
    (no augmentation then: features of augmented images would differ every epoch): the probe of
    the last stage. Its seconds include computing the training features."""
    if not cache_features:
        model = copy.deepcopy(model)
        freeze(model.body)
        return fit(model, train, val, cfg, TrainHooks(train_transform, eval_transform))
    last = len(stage_names(model)) - 1
    result, _ = stage_probe(model, train, val, cfg, eval_transform, [last])
    return result


def fine_tune(model: nn.Module, train: Data, val: Data | None, cfg: TrainConfig,
              eval_transform: EvalTransform, train_transform: TrainTransform | None = None,
              backbone_lr_factor: float = 0.1, trainable_stages: int | None = None) -> FitResult:
    """Train the head and the last ``trainable_stages`` stages (None: all), those stages at
    ``backbone_lr_factor`` × lr; earlier stages frozen, their norm layers in eval mode."""
    model = unfreeze(copy.deepcopy(model))
    count = len(stage_names(model))
    k = count if trainable_stages is None else trainable_stages
    if not 1 <= k <= count:
        raise ConfigError(f"fine_tune.trainable_stages={trainable_stages} but the backbone has "
                          f"{count} stages ({', '.join(stage_names(model))}); use 0..{count}")
    if k < count:
        freeze(model)
        trainable = set(stage_parameters(model, count - k)) | _head_parameters(model)
        for name, p in model.named_parameters():
            p.requires_grad_(name in trainable)
    lr_scale = partial(head_lr_scale, factor=backbone_lr_factor, head=_head_prefix(model))
    return fit(model, train, val, cfg, TrainHooks(train_transform, eval_transform,
                                                  lr_scale=lr_scale))


def _head_prefix(model: nn.Module) -> str:
    return find_head(model)[0] + "."


def _head_parameters(model: nn.Module) -> set[str]:
    head = _head_prefix(model)
    return {n for n, _ in model.named_parameters() if n.startswith(head)}


def gradual(model: nn.Module, train: Data, val: Data | None, cfg: TrainConfig,
            eval_transform: EvalTransform, train_transform: TrainTransform | None = None,
            backbone_lr_factor: float = 0.1, phases: int = 3) -> FitResult:
    """``phases`` fits of ``cfg.epochs // phases`` epochs: head only, then one more top stage of
    the body unfrozen per phase. The history is continuous (epochs 1..n); the model is the last
    phase's best."""
    model = copy.deepcopy(model)
    freeze(model.body)
    groups = stage_groups(model)
    per_phase = max(1, cfg.epochs // phases)
    history, seconds, result = [], 0.0, None
    hooks = _backbone_at(backbone_lr_factor, train_transform, eval_transform)
    for phase in range(phases):
        if 0 < phase <= len(groups):
            for name in groups[-phase]:
                unfreeze(model.get_submodule(name))
        phase_cfg = replace(cfg, epochs=per_phase, run_name=f"{cfg.run_name}-phase{phase}")
        result = fit(model, train, val, phase_cfg, hooks)
        model.load_state_dict(result.model.state_dict())
        history += [{**r, "epoch": r["epoch"] + phase * per_phase, "phase": phase}
                    for r in result.history]
        seconds += result.train_seconds
    return replace(result, model=model.eval(), history=history, train_seconds=seconds,
                   best_epoch=result.best_epoch + (phases - 1) * per_phase)


@dataclass(frozen=True)
class FineTuneConfig:
    """``params:fine_tune``: the backbone, the label budget and how each variant trains."""

    # bundled:efficientnet_lite0 | torchvision:<model>[:<WEIGHTS>] | checkpoint:<path> | mlflow:… |
    # pretrained:<version | latest> (the pretrain pipeline's backbone)
    backbone: str = "bundled:efficientnet_lite0"
    input_size: int | None = 96          # pixels the backbone sees (null: its native resolution)
    mode: str = "fine_tune"              # the pretrained variant: fine_tune | gradual | stage_probe
    trainable_stages: int | None = None  # fine_tune: last k stages + head train; null all, 0 probe
    label_fraction: float = 1.0          # fraction of training labels used, stratified, 0..1
    seed: int = 0                        # which labels are kept
    backbone_lr_factor: float = 0.1      # backbone lr as a fraction of the head's
    gradual_phases: int = 3              # gradual: head, then one more stage per phase
    cache_features: bool = True          # linear probe: compute frozen features once
    download: bool = False               # torchvision weights: fetch when not cached (network)
    # overrides of params:train for every variant (the shared budget)
    train: dict[str, Any] = field(default_factory=lambda: {
        "epochs": 3, "batch_size": 32, "optimizer": "adamw", "lr": 0.01, "weight_decay": 0.01,
        "warmup_epochs": 0})
    # per-variant overrides (optimiser only: the budget stays shared)
    variant_train: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "scratch": {"optimizer": "sgd", "lr": 0.05, "weight_decay": 0.0005}})

    def __post_init__(self) -> None:
        check_choice(self.mode, MODES, "fine_tune.mode")
        if self.trainable_stages is not None:
            check_range(self.trainable_stages, "fine_tune.trainable_stages", 0)
        check_range(self.label_fraction, "fine_tune.label_fraction", 0, 1, low_open=True)
        check_range(self.backbone_lr_factor, "fine_tune.backbone_lr_factor", 0)
        check_range(self.gradual_phases, "fine_tune.gradual_phases", 1)
        if self.input_size is not None:
            check_range(self.input_size, "fine_tune.input_size", 8)
        for name in self.variant_train:
            check_choice(name, VARIANTS, "fine_tune.variant_train key")
        for variant in VARIANTS:  # unknown keys and bad values fail before any training
            self.train_config({}, variant)

    def train_config(self, base: dict[str, Any], variant: str) -> TrainConfig:
        """``params:train`` with this block's overrides for ``variant``, checked. Epochs count
        passes over the *full* training split: with fewer labels each pass is shorter, so the
        epochs scale by 1 / label_fraction and every fraction gets the same optimiser steps. A
        whole-number ``val_every`` scales alike (``auto`` adapts to the labelled set by itself),
        so a 2% label budget does not validate fifty times as often."""
        merged = {**base, **self.train, **self.variant_train.get(variant, {}),
                  "run_name": f"fine_tune-{variant}"}
        cfg = from_dict(TrainConfig, merged, f"fine_tune.train (variant {variant})")

        def scaled(n: int) -> int:
            return math.ceil(n / self.label_fraction - 1e-9)

        return replace(cfg, epochs=scaled(cfg.epochs), val_every=cfg.val_every
                       if cfg.val_every == "auto" else scaled(int(cfg.val_every)))


VARIANTS = ("scratch", "linear_probe", "fine_tune")


def train_variant(variant: str, model: nn.Module, train: Data, val: Data | None,
                  ft: FineTuneConfig, cfg: TrainConfig, augment: TrainTransform,
                  eval_transform: EvalTransform) -> tuple[FitResult, list[dict[str, Any]]]:
    """One variant of the comparison: ``scratch`` (plain fit), ``linear_probe`` or the
    pretrained model trained with ``ft.mode``; with the per-stage rows of a stage probe."""
    if variant == "scratch":
        return fit(model, train, val, cfg, TrainHooks(augment, eval_transform)), []
    if variant == "linear_probe" or ft.trainable_stages == 0:
        return linear_probe(model, train, val, cfg, eval_transform, augment,
                            ft.cache_features), []
    if ft.mode == "stage_probe":
        result, probes = stage_probe(model, train, val, cfg, eval_transform)
        return result, probes.rows()
    if ft.mode == "gradual":
        return gradual(model, train, val, cfg, eval_transform, augment, ft.backbone_lr_factor,
                       ft.gradual_phases), []
    return fine_tune(model, train, val, cfg, eval_transform, augment, ft.backbone_lr_factor,
                     ft.trainable_stages), []


# The transfer map's strategies, cheapest first: a probe of the best stage, then the last stage,
# the last half of the stages and all of them fine-tuned (with the head).
STRATEGIES = ("probe", "last_1", "last_half", "all")


def strategy_stages(strategy: str, count: int) -> int:
    """How many of ``count`` stages ``strategy`` trains (0: a probe)."""
    check_choice(strategy, STRATEGIES, "transfer_map.strategies")
    return {"probe": 0, "last_1": 1, "last_half": math.ceil(count / 2), "all": count}[strategy]


def train_strategy(strategy: str, model: nn.Module, train: Data, val: Data | None,
                   cfg: TrainConfig, augment: TrainTransform, eval_transform: EvalTransform,
                   backbone_lr_factor: float = 0.1) -> FitResult:
    """One cell of the transfer map. The probe picks its stage on ``val`` (cached features: cheap);
    fine-tuning runs its whole budget without per-epoch validation, its last epoch the model
    (at a 1 % label fraction an epoch is a few steps, and validating after each would cost more
    than the training)."""
    k = strategy_stages(strategy, len(stage_names(model)))
    if k == 0:
        return stage_probe(model, train, val, cfg, eval_transform)[0]
    return fine_tune(model, train, None, cfg, eval_transform, augment, backbone_lr_factor, k)
