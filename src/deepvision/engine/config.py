"""Frozen training configuration: what ``params:train`` becomes inside the engine."""

from __future__ import annotations

import math
from dataclasses import dataclass

from deepvision.config import ConfigError, check_choice, check_name, check_range, warn_deprecated

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "triangle", "multistep", "plateau")
# Old schedule names → new ones; the old name still works, with a FutureWarning.
SCHEDULE_ALIASES = {"onecycle": "warmup_cosine"}
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MONITORS = ("val_accuracy", "val_loss", "train_loss", "val_knn_accuracy")  # the last: pretrain
DEVICES = ("auto", "cpu", "cuda", "mps")
# Evaluating an image costs about a third of training on it (a forward pass against forward +
# backward), so validation images up to 0.3 × the training images between two validations keep
# validation near 10% of the run.
VAL_TRAIN_RATIO = 0.3


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of the one training loop. Units are in the field comments."""

    epochs: int = 30                      # full passes over the training split
    batch_size: int = 64                  # images per optimiser step
    eval_batch_size: int = 512            # images per evaluation forward pass
    optimizer: str = "sgd"                # sgd | adamw
    lr: float = 0.1                       # peak learning rate (after warm-up)
    momentum: float = 0.9                 # SGD momentum / AdamW beta1
    nesterov: bool = True                 # SGD only
    weight_decay: float = 5e-4            # L2 (SGD) or decoupled (AdamW) decay
    decay_norm_and_bias: bool = False     # False: no weight decay on norm weights and biases
    norm_lr_scale: float = 1.0            # lr factor of norm-layer parameters (airbench: 64)
    # constant | cosine | warmup_cosine | triangle (linear warm-up, then linear decay to the floor,
    # as airbench) | multistep | plateau
    schedule: str = "cosine"
    warmup_epochs: float = 1.0            # linear warm-up length, epochs (fractions allowed)
    milestones: tuple[int, ...] = ()      # multistep: epochs at which lr *= gamma
    gamma: float = 0.1                    # multistep / plateau decay factor
    plateau_patience: int = 3             # plateau: epochs without improvement before decaying
    min_lr_ratio: float = 0.0             # cosine / warmup_cosine / triangle floor, fraction of lr
    label_smoothing: float = 0.0          # cross-entropy label smoothing, 0..1
    grad_clip_norm: float | None = None   # max global gradient L2 norm; null = no clipping
    ema_decay: float | None = None        # EMA of weights per step (e.g. 0.999); null = off
    monitor: str = "val_accuracy"         # metric choosing the best epoch and early stopping
    patience: int | None = None           # early stopping: epochs without improvement (checked
                                          # at validated epochs); null = off
    # Epochs between validations (the last epoch is always validated), or auto: every epoch
    # unless the validation images outnumber VAL_TRAIN_RATIO × the training images seen since the
    # last validation, so that validating never costs more than ~10% of the run.
    val_every: int | str = "auto"
    val_max_images: int | None = None     # validate on a seeded, stratified subset of this size
                                          # (train.seed picks it); null = the whole split
    device: str = "auto"                  # auto → cuda, then mps, then cpu
    devices: int = 1                      # data-parallel processes on this machine (DDP)
    sync_batchnorm: bool = False          # DDP: batch-norm statistics over the global batch
    precision: str = "auto"               # auto (bf16 on native bf16 units, else fp32) | fp32 |
                                          # bf16 | fp16 (CUDA only, with gradient scaling)
    compile: bool = False                 # torch.compile the model
    channels_last: bool = True            # NHWC memory format for conv nets
    seed: int = 0                         # data order, augmentation and dropout randomness
    deterministic: bool = False           # torch.use_deterministic_algorithms
    threads: int | None = None            # CPU intra-op threads; null = torch's default
    checkpoint_dir: str | None = "data/06_models/checkpoints"  # per-epoch checkpoints; null = none
    run_name: str = "train"               # checkpoint file name inside checkpoint_dir
    resume: bool = False                  # continue from checkpoint_dir/run_name.pt
    progress: str = "auto"                # auto (TTY bar, else a line per epoch) | bar | line | off
    register_as: str | None = None        # MLflow registry name for the run's inference model

    def __post_init__(self) -> None:
        if self.schedule in SCHEDULE_ALIASES:
            new = SCHEDULE_ALIASES[self.schedule]
            warn_deprecated(f"train.schedule: {self.schedule}", f"train.schedule: {new}",
                            stacklevel=4)  # the caller of the dataclass's __init__
            object.__setattr__(self, "schedule", new)
        check_range(self.epochs, "train.epochs", 1)
        check_range(self.batch_size, "train.batch_size", 1)
        check_range(self.eval_batch_size, "train.eval_batch_size", 1)
        check_choice(self.optimizer, OPTIMIZERS, "train.optimizer")
        check_range(self.lr, "train.lr", 0, low_open=True)
        check_range(self.momentum, "train.momentum", 0, 1)
        check_range(self.weight_decay, "train.weight_decay", 0)
        check_range(self.norm_lr_scale, "train.norm_lr_scale", 0, low_open=True)
        check_choice(self.schedule, SCHEDULES, "train.schedule")
        check_range(self.warmup_epochs, "train.warmup_epochs", 0, self.epochs)
        check_range(self.gamma, "train.gamma", 0, 1, low_open=True)
        check_range(self.min_lr_ratio, "train.min_lr_ratio", 0, 1)
        check_range(self.label_smoothing, "train.label_smoothing", 0, 1)
        if self.grad_clip_norm is not None:
            check_range(self.grad_clip_norm, "train.grad_clip_norm", 0, low_open=True)
        if self.ema_decay is not None:
            check_range(self.ema_decay, "train.ema_decay", 0, 1, low_open=True)
        check_choice(self.monitor, MONITORS, "train.monitor")
        whole = isinstance(self.val_every, int) and not isinstance(self.val_every, bool)
        if self.val_every != "auto" and not (whole and self.val_every >= 1):
            raise ConfigError(f"train.val_every={self.val_every!r} must be auto or a whole "
                              "number of epochs >= 1")
        if self.val_max_images is not None:
            check_range(self.val_max_images, "train.val_max_images", 1)
        if self.patience is not None:
            check_range(self.patience, "train.patience", 1)
        check_choice(self.device.split(":")[0], DEVICES, "train.device")
        check_range(self.devices, "train.devices", 1)
        check_name(self.run_name, "train.run_name")
        check_choice(self.precision, PRECISIONS, "train.precision")
        check_choice(self.progress, ("auto", "bar", "line", "off"), "train.progress")
        for m in self.milestones:
            check_range(m, "train.milestones", 1, self.epochs)

    def validation_interval(self, n_train: int, n_val: int) -> int:
        """Epochs between validations for ``n_train`` training and ``n_val`` validation images."""
        if self.val_every != "auto":
            return int(self.val_every)
        if n_val == 0 or n_train == 0:
            return 1
        return max(1, math.ceil(n_val / (VAL_TRAIN_RATIO * n_train) - 1e-9))

    @property
    def monitor_mode(self) -> str:
        return "max" if self.monitor.endswith("accuracy") else "min"
