"""The one training loop: ``fit`` → ``train_one_epoch`` / ``evaluate``. Fine-tuning, search and
compression reuse it through configuration, a loss, a transform or a per-parameter lr scale.

Data stays resident on the training device as uint8 tensors and is augmented there in batches, so
the loop is a tight sequence of index → transform → forward → backward → step (``make bench``
compares it with a bare hand-written loop).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepvision.config import to_dict
from deepvision.engine import checkpoint as ckpt
from deepvision.engine import distributed
from deepvision.engine.config import TrainConfig
from deepvision.engine.device import autocast, resolve_device, set_determinism, set_threads
from deepvision.engine.optim import LRSchedule, build_optimizer
from deepvision.engine.progress import Progress
from deepvision.models.heads import NORM_LAYERS

log = logging.getLogger(__name__)

TrainTransform = Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]
EvalTransform = Callable[[Tensor], Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


def to_float(x: Tensor) -> Tensor:
    """Default input transform: uint8 images to float in [0, 1]; float inputs pass through."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def _plain_train_transform(x: Tensor, y: Tensor, _: torch.Generator) -> tuple[Tensor, Tensor]:
    return to_float(x), y


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the epoch and step."""


@dataclass
class FitResult:
    model: nn.Module                      # weights of the best epoch (by ``cfg.monitor``)
    history: list[dict[str, float]]       # one record per epoch, epochs 1..n without gaps
    best_epoch: int
    best_metric: float
    train_seconds: float
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class _State:
    """Everything that must survive a restart, besides the model and optimiser."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float | None = None
    best_state: dict[str, Tensor] | None = None
    train_seconds: float = 0.0


def fit(model: nn.Module, train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor] | None,
        cfg: TrainConfig, *, train_transform: TrainTransform | None = None,
        eval_transform: EvalTransform | None = None, loss_fn: LossFn | None = None,
        lr_scale: Callable[[str], float] | None = None, fingerprint: dict[str, Any] | None = None,
        on_epoch_end: Callable[[dict[str, float]], None] | None = None) -> FitResult:
    """Train ``model`` on ``train`` (inputs, labels) for ``cfg.epochs``, validating on ``val``.

    ``train_transform(x, y, generator)`` augments a batch already on the device; ``eval_transform``
    prepares inputs for evaluation; ``lr_scale(param_name)`` scales a parameter's learning rate
    (fine-tuning); ``fingerprint`` adds what else identifies the run (model, data) to the config
    a checkpoint must match. Returns the best epoch's weights (a new module; ``model`` is not
    changed). ``cfg.devices > 1`` trains data-parallel in that many local processes.
    """
    ctx = distributed.context()
    if cfg.devices > 1 and not ctx.active:
        return _spawn_fit(model, train, val, cfg, train_transform=train_transform,
                          eval_transform=eval_transform, loss_fn=loss_fn, lr_scale=lr_scale,
                          fingerprint=fingerprint)
    set_threads(cfg.threads)
    set_determinism(cfg.deterministic)
    device = distributed.device_for(ctx, resolve_device(cfg.device))
    model = copy.deepcopy(model).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if ctx.active and cfg.sync_batchnorm:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    train_transform = train_transform or _plain_train_transform
    eval_transform = eval_transform or to_float
    loss_fn = loss_fn or _cross_entropy(cfg.label_smoothing)
    x_train, y_train = _resident(train, device)
    val_dev = _resident(val, device) if val is not None else None
    steps = max(1, len(x_train) // (cfg.batch_size * ctx.world_size))
    optimizer = build_optimizer(model, cfg, lr_scale)
    schedule = LRSchedule(optimizer, cfg, steps)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    ema = _ema(model, cfg.ema_decay)
    run_config = {**to_dict(cfg), **(fingerprint or {})}
    path = Path(cfg.checkpoint_dir) / f"{cfg.run_name}.pt" if cfg.checkpoint_dir else None
    state = _State()
    if path is not None and cfg.resume and path.exists():
        state = _restore(path, run_config, model, optimizer, schedule, scaler, ema)
    elif path is not None and path.exists() and ctx.is_main:
        log.info("Starting afresh: %s is replaced after the first epoch (train.resume: true "
                    "continues from it instead).", path)
    stepper = _data_parallel(model, ctx, device)
    stepper = torch.compile(stepper) if cfg.compile else stepper
    eval_model = ema.module if ema is not None else model
    while state.epoch < cfg.epochs and not _stop_early(state, cfg):
        epoch = state.epoch + 1
        start = time.perf_counter()
        train_metrics = _out_of_memory_guard(cfg)(train_one_epoch)(
            stepper, x_train, y_train, cfg, epoch, optimizer, schedule, scaler, ema,
            train_transform, loss_fn, device, ctx)
        seconds = time.perf_counter() - start
        val_metrics = (evaluate(eval_model, *val_dev, cfg, eval_transform, device)
                       if val_dev is not None else {})
        record = {"epoch": epoch, **train_metrics,
                  **{f"val_{k}": v for k, v in val_metrics.items()},
                  "lr": schedule.lr, "epoch_seconds": seconds,
                  "images_per_second": steps * cfg.batch_size * ctx.world_size / seconds}
        _end_epoch(state, record, cfg, schedule, eval_model)
        if path is not None and ctx.is_main:
            _save(path, run_config, state, model, optimizer, schedule, scaler, ema)
        if ctx.is_main:
            _log_epoch(record, cfg)
        if on_epoch_end is not None:
            on_epoch_end(record)
    best = copy.deepcopy(eval_model)
    if state.best_state is not None:
        best.load_state_dict(state.best_state)
    best = best.to("cpu", memory_format=torch.contiguous_format).eval()
    if hasattr(model, "spec"):
        best.spec = model.spec
    return FitResult(best, state.history, state.best_epoch, _nan_if_none(state.best_metric),
                     state.train_seconds, run_config)


def train_one_epoch(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, epoch: int,
                    optimizer: torch.optim.Optimizer, schedule: LRSchedule,
                    scaler: torch.amp.GradScaler, ema: nn.Module | None,
                    transform: TrainTransform, loss_fn: LossFn, device: torch.device,
                    ctx: distributed.DistContext = distributed.SINGLE) -> dict[str, float]:
    """One pass over ``x``/``y`` (already on ``device``) in a seeded random order; under DDP every
    rank draws the same order and takes its slice of each global batch."""
    train_mode(model)
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed * 1_000_003 + epoch)
    global_batch = cfg.batch_size * ctx.world_size
    steps = max(1, len(x) // global_batch)
    order = torch.randperm(len(x), generator=gen, device=x.device)
    if ctx.active:  # augmentation randomness differs per rank, the data order does not
        gen.manual_seed(cfg.seed * 1_000_003 + epoch + 7919 * ctx.rank)
    losses = torch.zeros(steps, device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    progress = Progress(steps, f"epoch {epoch}/{cfg.epochs}", cfg.progress)
    for step in range(steps):
        start = step * global_batch + ctx.rank * cfg.batch_size
        idx = order[start:start + cfg.batch_size]
        inputs, target = transform(x[idx].to(device, non_blocking=True),
                                   y[idx].to(device, non_blocking=True), gen)
        if cfg.channels_last and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast(device, cfg.precision):
            logits = model(inputs)
            loss = loss_fn(logits, target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip_norm is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        if ema is not None:
            ema.update_parameters(model)
        losses[step] = loss.detach()
        # On the CPU checking costs no device sync, so stop at the very step.
        if device.type == "cpu" and not math.isfinite(losses[step]):
            _raise_non_finite(losses, epoch)
        hard = target if target.ndim == 1 else target.argmax(1)
        correct += (logits.argmax(1) == hard).sum()
        seen += len(idx)
        progress.update(loss=losses[step])
    progress.close()
    if not torch.isfinite(losses).all():
        _raise_non_finite(losses, epoch)
    totals = distributed.all_reduce_sum(
        torch.stack([losses.sum(), correct.float(), torch.tensor(float(seen), device=device)]), ctx)
    return {"train_loss": (totals[0] / (steps * ctx.world_size)).item(),
            "train_accuracy": (totals[1] / totals[2]).item()}


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 512,
            transform: EvalTransform = to_float, device: torch.device | str | None = None,
            precision: str = "fp32", channels_last: bool = True) -> Tensor:
    """Logits for every input, in order, as a float32 CPU tensor."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).eval()
    out = []
    for start in range(0, len(x), batch_size):
        inputs = transform(x[start:start + batch_size].to(device, non_blocking=True))
        if channels_last and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            out.append(model(inputs).float())
    return torch.cat(out).cpu()


def evaluate(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig,
             transform: EvalTransform = to_float,
             device: torch.device | None = None) -> dict[str, float]:
    """Mean cross-entropy loss and top-1 accuracy of ``model`` on ``x``/``y``."""
    logits = predict(model, x, cfg.eval_batch_size, transform, device, cfg.precision,
                     cfg.channels_last)
    y = y.cpu()
    return {"loss": F.cross_entropy(logits, y).item(),
            "accuracy": (logits.argmax(1) == y).float().mean().item()}


def _data_parallel(model: nn.Module, ctx: distributed.DistContext,
                   device: torch.device) -> nn.Module:
    if not ctx.active:
        return model
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)


def _spawn_fit(model: nn.Module, train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor] | None,
               cfg: TrainConfig, **kwargs: Any) -> FitResult:
    """``fit`` in ``cfg.devices`` local processes; the caller gets rank 0's result."""
    out = distributed.spawn(_fit_on_rank, cfg.devices, model, train, val, cfg, kwargs)
    best = copy.deepcopy(model).eval()
    best.load_state_dict(out["state_dict"])
    return FitResult(best, out["history"], out["best_epoch"], out["best_metric"],
                     out["train_seconds"], out["config"])


def _fit_on_rank(model: nn.Module, train: tuple[Tensor, Tensor],
                 val: tuple[Tensor, Tensor] | None, cfg: TrainConfig,
                 kwargs: dict[str, Any]) -> dict[str, Any]:
    result = fit(model, train, val, cfg, **kwargs)
    return {"state_dict": result.model.state_dict(), "history": result.history,
            "best_epoch": result.best_epoch, "best_metric": result.best_metric,
            "train_seconds": result.train_seconds, "config": result.config}


def _out_of_memory_guard(cfg: TrainConfig) -> Callable[[Callable], Callable]:
    """Turn a CUDA out-of-memory error into one that names the batch size that failed."""
    def wrap(fn: Callable) -> Callable:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except torch.cuda.OutOfMemoryError as e:
                raise torch.cuda.OutOfMemoryError(
                    f"CUDA ran out of memory with train.batch_size={cfg.batch_size} "
                    f"(precision {cfg.precision}); lower train.batch_size or use "
                    f"train.precision: bf16/fp16. {e}") from e
        return guarded
    return wrap


def train_mode(model: nn.Module) -> None:
    """``model.train()``, except norm layers whose parameters are all frozen: they stay in eval
    mode so a frozen backbone's running statistics do not drift (linear probing)."""
    model.train()
    for m in model.modules():
        params = list(m.parameters(recurse=False))
        if isinstance(m, NORM_LAYERS) and params and not any(p.requires_grad for p in params):
            m.eval()


def _cross_entropy(label_smoothing: float) -> LossFn:
    def loss(logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)
    return loss


def _resident(data: tuple[Tensor, Tensor], device: torch.device) -> tuple[Tensor, Tensor]:
    """Keep the (small, uint8) dataset on the training device; pinned host memory for large ones."""
    x, y = data
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    if device.type == "cuda" and x.numel() * x.element_size() > 4 * 2**30:
        return x.pin_memory(), y.pin_memory()
    return x.to(device), y.to(device)


def _ema(model: nn.Module, decay: float | None) -> nn.Module | None:
    if decay is None:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _end_epoch(state: _State, record: dict[str, float], cfg: TrainConfig,
               schedule: LRSchedule, eval_model: nn.Module) -> None:
    state.epoch = int(record["epoch"])
    state.history.append(record)
    state.train_seconds += record["epoch_seconds"]
    value = record.get(cfg.monitor)
    if value is None:  # no validation split: the last epoch is the best
        value = -state.epoch if cfg.monitor_mode == "min" else state.epoch
    better = state.best_metric is None or (
        value > state.best_metric if cfg.monitor_mode == "max" else value < state.best_metric)
    if better:
        state.best_epoch, state.best_metric = state.epoch, float(value)
        state.best_state = {k: v.detach().to("cpu", copy=True)
                            for k, v in eval_model.state_dict().items()}
    schedule.epoch_end(float(value), cfg.monitor_mode)


def _stop_early(state: _State, cfg: TrainConfig) -> bool:
    stop = cfg.patience is not None and state.epoch - state.best_epoch >= cfg.patience
    if stop and state.history and state.history[-1]["epoch"] == state.epoch:
        log.info("Early stopping after epoch %d: %s has not improved for %d epochs (best %.4f at "
                 "epoch %d).", state.epoch, cfg.monitor, cfg.patience, state.best_metric,
                 state.best_epoch)
    return stop


def _save(path: Path, run_config: dict[str, Any], state: _State, model: nn.Module,
          optimizer: torch.optim.Optimizer, schedule: LRSchedule,
          scaler: torch.amp.GradScaler, ema: nn.Module | None) -> None:
    ckpt.save_atomic({
        "config": run_config, "epoch": state.epoch, "history": state.history,
        "best_epoch": state.best_epoch, "best_metric": state.best_metric,
        "best_state": state.best_state, "train_seconds": state.train_seconds,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(), "scaler": scaler.state_dict(),
        "ema": ema.state_dict() if ema is not None else None,
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }, path)


def _restore(path: Path, run_config: dict[str, Any], model: nn.Module,
             optimizer: torch.optim.Optimizer, schedule: LRSchedule,
             scaler: torch.amp.GradScaler, ema: nn.Module | None) -> _State:
    saved = ckpt.load(path)
    diff = ckpt.config_differences(saved["config"], run_config)
    if diff:
        raise ckpt.CheckpointMismatchError(
            f"cannot resume from {path}: it was made with a different configuration ("
            + "; ".join(diff) + "). Set train.resume: false to start afresh, or change "
            "train.run_name to keep both.")
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["schedule"])
    scaler.load_state_dict(saved["scaler"])
    if ema is not None and saved["ema"] is not None:
        ema.load_state_dict(saved["ema"])
    torch.set_rng_state(saved["rng_cpu"])
    if saved["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["rng_cuda"])
    log.info("Resuming %s after epoch %d.", path, saved["epoch"])
    return _State(saved["epoch"], saved["history"], saved["best_epoch"], saved["best_metric"],
                  saved["best_state"], saved["train_seconds"])


def _raise_non_finite(losses: Tensor, epoch: int) -> None:
    step = int((~torch.isfinite(losses)).nonzero()[0]) + 1
    raise NonFiniteLossError(
        f"the training loss became {losses[step - 1].item()} at epoch {epoch}, step {step}; "
        "the last good checkpoint is kept. Lower train.lr, set train.grad_clip_norm, or use "
        "train.precision: fp32.")


def _log_epoch(record: dict[str, float], cfg: TrainConfig) -> None:
    val = (f" val_loss {record['val_loss']:.4f} val_acc {record['val_accuracy']:.4f}"
           if "val_loss" in record else "")
    log.info("epoch %d/%d train_loss %.4f train_acc %.4f%s lr %.3g %.1fs %.0f img/s",
             record["epoch"], cfg.epochs, record["train_loss"], record["train_accuracy"], val,
             record["lr"], record["epoch_seconds"], record["images_per_second"])


def _nan_if_none(v: float | None) -> float:
    return float("nan") if v is None else v
