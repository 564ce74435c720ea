"""Transfer learning as configuration around the one loop (``fit``), never a second loop:

- ``linear_probe``: the backbone frozen (its norm layers stay in eval mode), only the head trains.
  The backbone's features do not change, so they are computed once and the head is fitted on them.
- ``fine_tune``: everything trains, the backbone at ``backbone_lr_factor`` of the head's rate.
- ``gradual``: the head first, then the backbone's stages unfrozen one by one from the top, each
  phase a ``fit`` with the layers trained so far (Howard & Ruder, ULMFiT, 2018).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from torch import Tensor, nn

from deepvision.config import check_choice, check_range, from_dict
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
from deepvision.models.heads import freeze, unfreeze

Data = tuple[Tensor, Tensor]


def head_lr_scale(name: str, factor: float) -> float:
    """``TrainHooks.lr_scale`` of fine-tuning: the head at the full rate, the backbone at
    ``factor`` of it (a module-level function, so it pickles into DDP ranks)."""
    return 1.0 if name.startswith("head.") else factor


def _backbone_at(factor: float, train_transform: TrainTransform | None,
                 eval_transform: EvalTransform) -> TrainHooks:
    """The hooks of fine-tuning and gradual unfreezing: the backbone at ``factor`` × lr."""
    return TrainHooks(train_transform, eval_transform,
                      lr_scale=partial(head_lr_scale, factor=factor))


def linear_probe(model: nn.Module, train: Data, val: Data | None, cfg: TrainConfig,
                 eval_transform: EvalTransform, train_transform: TrainTransform | None = None,
                 cache_features: bool = True) -> FitResult:
    """Train ``model.head`` only. With ``cache_features`` the frozen body runs once per image
    (no augmentation then: features of augmented images would differ every epoch)."""
    model = copy.deepcopy(model)
    freeze(model.body)
    if not cache_features:
        return fit(model, train, val, cfg, TrainHooks(train_transform, eval_transform))
    device = resolve_device(cfg.device)

    def features(x: Tensor) -> Tensor:
        return predict(_FeatureView(model), x, cfg.eval_batch_size, eval_transform, device,
                       cfg.precision, cfg.channels_last)

    train_f = (features(train[0]), train[1])
    val_f = (features(val[0]), val[1]) if val is not None else None
    result = fit(model.head, train_f, val_f, replace(cfg, channels_last=False))
    model.head.load_state_dict(result.model.state_dict())
    return replace(result, model=model.to("cpu").eval())


def fine_tune(model: nn.Module, train: Data, val: Data | None, cfg: TrainConfig,
              eval_transform: EvalTransform, train_transform: TrainTransform | None = None,
              backbone_lr_factor: float = 0.1) -> FitResult:
    """Train all layers; parameters outside ``head`` at ``backbone_lr_factor`` × lr."""
    model = unfreeze(copy.deepcopy(model))
    return fit(model, train, val, cfg,
               _backbone_at(backbone_lr_factor, train_transform, eval_transform))


def gradual(model: nn.Module, train: Data, val: Data | None, cfg: TrainConfig,
            eval_transform: EvalTransform, train_transform: TrainTransform | None = None,
            backbone_lr_factor: float = 0.1, phases: int = 3) -> FitResult:
    """``phases`` fits of ``cfg.epochs // phases`` epochs: head only, then one more top stage of
    the body unfrozen per phase. The history is continuous (epochs 1..n); the model is the last
    phase's best."""
    model = copy.deepcopy(model)
    freeze(model.body)
    stages = model.stages()
    per_phase = max(1, cfg.epochs // phases)
    history, seconds, result = [], 0.0, None
    hooks = _backbone_at(backbone_lr_factor, train_transform, eval_transform)
    for phase in range(phases):
        if 0 < phase <= len(stages):
            unfreeze(stages[-phase])
        phase_cfg = replace(cfg, epochs=per_phase, run_name=f"{cfg.run_name}-phase{phase}")
        result = fit(model, train, val, phase_cfg, hooks)
        model.load_state_dict(result.model.state_dict())
        history += [{**r, "epoch": r["epoch"] + phase * per_phase, "phase": phase}
                    for r in result.history]
        seconds += result.train_seconds
    return replace(result, model=model.eval(), history=history, train_seconds=seconds,
                   best_epoch=result.best_epoch + (phases - 1) * per_phase)


class _FeatureView(nn.Module):
    """``model.features`` as a module, for ``predict``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.features(x)


@dataclass(frozen=True)
class FineTuneConfig:
    """``params:fine_tune``: the backbone, the label budget and how each variant trains."""

    # bundled:efficientnet_lite0 | torchvision:<model>[:<WEIGHTS>] | checkpoint:<path> | mlflow:… |
    # pretrained:<version | latest> (the pretrain pipeline's backbone)
    backbone: str = "bundled:efficientnet_lite0"
    input_size: int | None = 96          # pixels the backbone sees (null: its native resolution)
    mode: str = "fine_tune"              # how the pretrained variant trains: fine_tune | gradual
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
        check_choice(self.mode, ("fine_tune", "gradual"), "fine_tune.mode")
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
        epochs scale by 1 / label_fraction and every fraction gets the same optimiser steps."""
        merged = {**base, **self.train, **self.variant_train.get(variant, {}),
                  "run_name": f"fine_tune-{variant}"}
        cfg = from_dict(TrainConfig, merged, f"fine_tune.train (variant {variant})")
        return replace(cfg, epochs=math.ceil(cfg.epochs / self.label_fraction - 1e-9))


VARIANTS = ("scratch", "linear_probe", "fine_tune")


def train_variant(variant: str, model: nn.Module, train: Data, val: Data | None,
                  ft: FineTuneConfig, cfg: TrainConfig, augment: TrainTransform,
                  eval_transform: EvalTransform) -> FitResult:
    """One variant of the comparison: ``scratch`` (plain fit), ``linear_probe`` or the
    pretrained model trained with ``ft.mode``."""
    if variant == "scratch":
        return fit(model, train, val, cfg, TrainHooks(augment, eval_transform))
    if variant == "linear_probe":
        return linear_probe(model, train, val, cfg, eval_transform, augment, ft.cache_features)
    if ft.mode == "gradual":
        return gradual(model, train, val, cfg, eval_transform, augment, ft.backbone_lr_factor,
                       ft.gradual_phases)
    return fine_tune(model, train, val, cfg, eval_transform, augment, ft.backbone_lr_factor)
