"""Optimisers with weight-decay groups; learning-rate schedules as pure functions of the step."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from deepvision.engine.config import TrainConfig
from deepvision.models.heads import NORM_LAYERS


def no_decay_names(model: nn.Module) -> set[str]:
    """Parameters that should not be decayed: biases and all norm-layer parameters."""
    names = set()
    for mod_name, module in model.named_modules():
        for p_name, _ in module.named_parameters(recurse=False):
            if p_name == "bias" or isinstance(module, NORM_LAYERS):
                names.add(f"{mod_name}.{p_name}" if mod_name else p_name)
    return names


def norm_names(model: nn.Module) -> set[str]:
    """Names of the parameters of norm layers."""
    return {f"{mod_name}.{p_name}" if mod_name else p_name
            for mod_name, module in model.named_modules() if isinstance(module, NORM_LAYERS)
            for p_name, _ in module.named_parameters(recurse=False)}


def param_groups(model: nn.Module, cfg: TrainConfig,
                 lr_scale: Callable[[str], float] | None = None) -> list[dict[str, Any]]:
    """Trainable parameters grouped by (learning-rate scale, weight decay); frozen ones left out.
    Norm-layer parameters get ``cfg.norm_lr_scale`` on top of ``lr_scale``; when they are decayed,
    their weight decay is divided by it, so that the shrink per step (lr × decay) is the same as
    every other parameter's — airbench's ``weight_decay=wd/lr_biases`` on its 64× bias group."""
    skip = set() if cfg.decay_norm_and_bias else no_decay_names(model)
    norms = norm_names(model) if cfg.norm_lr_scale != 1 else set()
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        scale = (lr_scale(name) if lr_scale else 1.0) * (cfg.norm_lr_scale if name in norms
                                                          else 1.0)
        decay = cfg.weight_decay / (cfg.norm_lr_scale if name in norms else 1.0)
        key = (scale, 0.0 if name in skip else decay)
        groups.setdefault(key, []).append(p)
    return [{"params": ps, "lr": cfg.lr * scale, "initial_lr": cfg.lr * scale, "weight_decay": wd}
            for (scale, wd), ps in groups.items()]


def build_optimizer(model: nn.Module, cfg: TrainConfig,
                    lr_scale: Callable[[str], float] | None = None) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg, lr_scale)
    if not groups:
        raise ValueError("the model has no trainable parameters: nothing to optimise")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999))


def lr_factor(step: int, total_steps: int, steps_per_epoch: int, cfg: TrainConfig) -> float:
    """Multiplier of the peak lr at optimiser step ``step`` (0-based), warm-up included."""
    warmup = cfg.warmup_epochs * steps_per_epoch
    if cfg.schedule == "warmup_cosine":
        warmup = warmup or 0.3 * total_steps  # no warm-up given: 30 % of the run
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1.0, total_steps - warmup)
    floor = cfg.min_lr_ratio
    if cfg.schedule in ("cosine", "warmup_cosine"):
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    if cfg.schedule == "triangle":
        return 1 - (1 - floor) * min(1.0, progress)
    if cfg.schedule == "multistep":
        epoch = step // steps_per_epoch
        return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    return 1.0  # constant, and plateau (whose decay is applied per epoch by LRSchedule)


class LRSchedule:
    """Sets each group's lr every step; ``plateau`` also decays on a stalled monitored metric."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
        self.optimizer, self.cfg, self.steps_per_epoch = optimizer, cfg, steps_per_epoch
        self.total_steps = cfg.epochs * steps_per_epoch
        self.step_count = 0
        self.plateau_factor, self.best, self.bad_epochs = 1.0, None, 0
        self._apply()

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def epoch_end(self, monitored: float, mode: str) -> None:
        if self.cfg.schedule != "plateau":
            return
        better = self.best is None or (
            monitored > self.best if mode == "max" else monitored < self.best)
        self.best, self.bad_epochs = (monitored, 0) if better else (self.best, self.bad_epochs + 1)
        if self.bad_epochs >= self.cfg.plateau_patience:
            self.plateau_factor *= self.cfg.gamma
            self.bad_epochs = 0
        self._apply()

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _apply(self) -> None:
        f = lr_factor(min(self.step_count, self.total_steps - 1), self.total_steps,
                      self.steps_per_epoch, self.cfg) * self.plateau_factor
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * f

    def state_dict(self) -> dict[str, Any]:
        return {"step_count": self.step_count, "plateau_factor": self.plateau_factor,
                "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = state["step_count"]
        self.plateau_factor, self.best = state["plateau_factor"], state["best"]
        self.bad_epochs = state["bad_epochs"]
        self._apply()
