"""Self-supervised pretraining as configuration around the one loop (``fit``), never a second
loop: a two-view ``train_transform``, a loss over the two views as the ``objective``, a k-NN
``validate`` monitor and, for BYOL, the target update as ``after_step``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from deepvision.config import ConfigError, check_choice, check_range, from_dict
from deepvision.data.transforms import AugmentConfig, BatchAugment
from deepvision.engine.config import TrainConfig
from deepvision.engine.loop import EvalTransform, FitResult, TrainHooks, fit, predict
from deepvision.ssl.knn import knn_accuracy
from deepvision.ssl.losses import byol_loss, nt_xent
from deepvision.ssl.model import METHODS, SSLModel, update_target

Data = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class PretrainConfig:
    """``params:pretrain``: the objective, its heads and the monitor; ``train`` and ``augment``
    override ``params:train`` / ``params:augment`` for the pretraining only."""

    method: str = "simclr"              # simclr (NT-Xent) | byol (regression to an EMA target)
    projection_dim: int = 128           # features out of the projection head
    hidden_dim: int = 512               # hidden features of the projection / prediction MLPs
    temperature: float = 0.2            # simclr: softmax temperature of NT-Xent
    target_momentum: float = 0.99       # byol: EMA decay of the target network per step
    knn_k: int = 20                     # monitor: neighbours voting per validation image
    knn_temperature: float = 0.07       # monitor: vote weight exp(cosine similarity / this)
    knn_bank_size: int | None = 5000    # monitor: training images in the labelled bank; null = all
    # overrides of params:train for the pretraining only
    train: dict[str, Any] = field(default_factory=lambda: {
        "epochs": 40, "batch_size": 256, "lr": 0.5, "weight_decay": 1.0e-5, "warmup_epochs": 1,
        "monitor": "val_knn_accuracy"})
    # overrides of params:augment for the two views (no mixup/cutmix)
    augment: dict[str, Any] = field(default_factory=lambda: {
        "crop_padding": 1, "rotate_degrees": 15.0, "translate": 0.1, "scale": [0.8, 1.1],
        "color_jitter": 0.4, "erasing_prob": 0.25})

    def __post_init__(self) -> None:
        check_choice(self.method, METHODS, "pretrain.method")
        for key in ("projection_dim", "hidden_dim", "knn_k"):
            check_range(getattr(self, key), f"pretrain.{key}", 1)
        check_range(self.temperature, "pretrain.temperature", 0, low_open=True)
        check_range(self.target_momentum, "pretrain.target_momentum", 0, 1)
        check_range(self.knn_temperature, "pretrain.knn_temperature", 0, low_open=True)
        if self.knn_bank_size is not None:
            check_range(self.knn_bank_size, "pretrain.knn_bank_size", 1)
        self.train_config({})  # unknown keys and bad values fail before any training
        self.augment_config({})

    def train_config(self, base: dict[str, Any]) -> TrainConfig:
        merged = {**base, "run_name": "pretrain", **self.train}
        return from_dict(TrainConfig, merged, "pretrain.train")

    def augment_config(self, base: dict[str, Any]) -> AugmentConfig:
        cfg = from_dict(AugmentConfig, {**base, **self.augment}, "pretrain.augment")
        if cfg.mixes:
            raise ConfigError("pretrain.augment: mixup/cutmix blend two images, so the two views "
                              "would not show the same one; set mixup_alpha and cutmix_alpha to 0")
        if cfg.hflip and cfg.hflip_mode == "alternate":
            raise ConfigError("pretrain.augment.hflip_mode=alternate mirrors both views of an "
                              "image alike, so the views never differ by a flip; use random")
        return cfg


def two_views(augment: BatchAugment, x: Tensor, y: Tensor,
              generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Two independent augmentations of every image, concatenated (2N inputs); labels unused."""
    first, _ = augment(x, y, generator)
    second, _ = augment(x, y, generator)
    return torch.cat([first, second]), y


def simclr_objective(model: nn.Module, inputs: Tensor, _: Tensor,
                     temperature: float) -> tuple[Tensor, None]:
    z1, z2 = model(inputs).chunk(2)
    return nt_xent(z1, z2, temperature), None


def byol_objective(model: nn.Module, inputs: Tensor, _: Tensor) -> tuple[Tensor, None]:
    online, target = model(inputs)
    p1, p2 = online.chunk(2)
    t1, t2 = target.chunk(2)
    return (byol_loss(p1, t2) + byol_loss(p2, t1)) / 2, None  # symmetrised, as in the paper


def knn_monitor(model: SSLModel, bank: Data, val: Data, transform: EvalTransform,
                cfg: PretrainConfig, train_cfg: TrainConfig) -> dict[str, float]:
    """``TrainHooks.validate``: k-NN accuracy of the encoder's validation features."""
    device = next(model.parameters()).device
    feats = [predict(model.encoder, x, train_cfg.eval_batch_size, transform, device,
                     train_cfg.precision, train_cfg.channels_last) for x in (bank[0], val[0])]
    return {"knn_accuracy": knn_accuracy(feats[0], bank[1].cpu(), feats[1], val[1].cpu(),
                                         cfg.knn_k, cfg.knn_temperature)}


def pretrain(backbone: nn.Module, train: Data, val: Data | None, cfg: PretrainConfig,
             train_cfg: TrainConfig, augment: BatchAugment, eval_transform: EvalTransform,
             fingerprint: dict[str, Any] | None = None) -> tuple[nn.Module, FitResult]:
    """Learn ``backbone`` from ``train``'s images alone; ``val`` (and a seeded bank of labelled
    training images) only feed the k-NN monitor. Returns the pretrained backbone (a plain model
    of its architecture, classifier layer untrained) and the fit result."""
    model = SSLModel(backbone, cfg.method, cfg.hidden_dim, cfg.projection_dim,
                     cfg.target_momentum)
    objective = (partial(simclr_objective, temperature=cfg.temperature)
                 if cfg.method == "simclr" else byol_objective)
    validate = None
    if val is not None and len(val[0]):
        bank = _bank(train, cfg.knn_bank_size, train_cfg.seed)
        validate = partial(knn_monitor, bank=bank, val=val, transform=eval_transform, cfg=cfg,
                           train_cfg=train_cfg)
    elif train_cfg.monitor.startswith("val_"):
        raise ConfigError(f"pretrain.train.monitor={train_cfg.monitor} needs a validation split; "
                          "set pretrain.train.monitor: train_loss or split.val_fraction > 0")
    hooks = TrainHooks(train_transform=partial(two_views, augment), eval_transform=eval_transform,
                       objective=objective, validate=validate,
                       after_step=update_target if cfg.method == "byol" else None)
    result = fit(model, train, val, train_cfg, hooks, fingerprint=fingerprint)
    return result.model.backbone_model(), result


def _bank(train: Data, size: int | None, seed: int) -> Data:
    x, y = train
    if size is None or size >= len(x):
        return x, y
    keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:size]
    return x[keep], y[keep]
