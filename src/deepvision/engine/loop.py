"""The one training loop: ``fit`` → ``train_one_epoch`` / ``evaluate``. Fine-tuning, search and
compression reuse it through configuration, a loss, a transform or a per-parameter lr scale.

Data stays resident on the training device as uint8 tensors and is augmented there in batches, so
the loop is a tight sequence of index → transform → forward → backward → step (``make bench``
compares it with a bare hand-written loop).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepvision.config import to_dict
from deepvision.data.split import stratified_sample
from deepvision.engine import checkpoint as ckpt
from deepvision.engine import distributed
from deepvision.engine.batches import BatchSource, ResidentBatches
from deepvision.engine.config import TrainConfig
from deepvision.engine.device import (
    autocast,
    resolve_device,
    resolve_precision,
    set_determinism,
    set_threads,
)
from deepvision.engine.optim import LRSchedule, build_optimizer
from deepvision.engine.progress import Progress
from deepvision.models.heads import NORM_LAYERS

log = logging.getLogger(__name__)

_DATA_INIT_IMAGES = 10_000  # at most this many training images go to a model's ``data_init``

TrainTransform = Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]
EvalTransform = Callable[[Tensor], Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
Objective = Callable[[nn.Module, Tensor, Tensor], tuple[Tensor, Tensor | None]]


def to_float(x: Tensor) -> Tensor:
    """Default input transform: uint8 images to float in [0, 1]; float inputs pass through."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def _plain_train_transform(x: Tensor, y: Tensor, _: torch.Generator) -> tuple[Tensor, Tensor]:
    return to_float(x), y


@dataclass(frozen=True)
class TrainHooks:
    """How one training differs from plain supervised training; every field is optional.

    Fine-tuning, search, quantization-aware training, distillation and self-supervised pretraining
    are a ``TrainHooks`` around the same ``fit``, never a copy of the loop.
    """

    # (uint8 batch on the device, labels, generator) → (inputs, target)
    train_transform: TrainTransform | None = None
    eval_transform: EvalTransform | None = None    # inputs for evaluation (default: uint8 → [0, 1])
    loss_fn: LossFn | None = None                  # (logits, target) → loss; default cross-entropy
    # (model, inputs, target) → (loss, logits or None): replaces forward + loss_fn (distillation,
    # self-supervised losses); None logits leave train_accuracy out of the record.
    objective: Objective | None = None
    lr_scale: Callable[[str], float] | None = None  # parameter name → factor on its learning rate
    after_step: Callable[[nn.Module], None] | None = None  # after every optimiser step (clipping)
    # model → metrics, replacing the validation loss/accuracy (keys get the ``val_`` prefix).
    validate: Callable[[nn.Module], dict[str, float]] | None = None
    on_epoch_end: Callable[[dict[str, float]], None] | None = None  # each epoch's record


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the epoch and step."""


@dataclass
class FitResult:
    model: nn.Module                      # weights of the best epoch (by ``cfg.monitor``)
    history: list[dict[str, float]]       # one record per epoch, epochs 1..n without gaps
    best_epoch: int
    best_metric: float
    train_seconds: float
    config: dict[str, Any] = field(default_factory=dict)  # precision: the resolved one (not auto)


@dataclass
class _State:
    """Everything that must survive a restart, besides the model and optimiser."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float | None = None
    best_state: dict[str, Tensor] | None = None
    train_seconds: float = 0.0


@dataclass
class _Run:
    """What one epoch needs besides the data: the run's configuration and its training objects."""

    cfg: TrainConfig
    hooks: TrainHooks          # with the defaults filled in
    device: torch.device
    ctx: distributed.DistContext
    source: BatchSource        # the training batches
    steps: int                 # optimiser steps per epoch
    net: nn.Module             # the model being trained
    model: nn.Module           # ``net`` as stepped: DDP-wrapped and/or compiled
    eval_model: nn.Module      # what is validated and kept: the EMA copy, or ``net``
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    scaler: torch.amp.GradScaler
    ema: nn.Module | None


def fit(model: nn.Module, train: tuple[Tensor, Tensor] | BatchSource,
        val: tuple[Tensor, Tensor] | None, cfg: TrainConfig, hooks: TrainHooks | None = None, *,
        fingerprint: dict[str, Any] | None = None) -> FitResult:
    """Train ``model`` on ``train`` for ``cfg.epochs``, validating on ``val``.

    ``train`` is (inputs, labels), kept whole on the device, or a batch source that streams them
    (``deepvision.data.shards.ShardBatches``).

    ``hooks`` says how this training differs from plain supervised training (see ``TrainHooks``);
    ``fingerprint`` adds what else identifies the run (model, data) to the config a checkpoint must
    match. Returns the best epoch's weights (a new module; ``model`` is not changed).
    ``cfg.devices > 1`` trains data-parallel in that many local processes. A model with a
    ``data_init(inputs)`` method gets the first training inputs (as evaluated) before training.
    """
    hooks = hooks or TrainHooks()
    ctx = distributed.context()
    if cfg.devices > 1 and not ctx.active:
        return _spawn_fit(model, train, val, cfg, hooks, fingerprint)
    set_threads(cfg.threads)
    set_determinism(cfg.deterministic)
    # Dropout and drop-path draw from the process-wide generator: seeding it from the run's seed
    # makes every training reproducible from its params, whatever ran before it in the process.
    torch.manual_seed(cfg.seed)
    device = distributed.device_for(ctx, resolve_device(cfg.device))
    cfg = replace(cfg, precision=resolve_precision(cfg.precision, device, training=model))
    if ctx.is_main:
        log.info("Training on %s in %s.", device, cfg.precision)
    model = copy.deepcopy(model).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if ctx.active and cfg.sync_batchnorm:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    source = train if hasattr(train, "batches") else ResidentBatches(*_resident(train, device))
    val_dev = _resident(_capped(val, cfg), device) if val is not None else None
    val_every = cfg.validation_interval(len(source), len(val_dev[0]) if val_dev else 0)
    if hasattr(model, "data_init"):  # e.g. airbench's whitening layer, set from training images
        with torch.no_grad():
            model.data_init((hooks.eval_transform or to_float)(_first_images(source)))
    run = _start(model, cfg, hooks, device, ctx, source)
    run_config = {**to_dict(cfg), **(fingerprint or {})}
    path = Path(cfg.checkpoint_dir) / f"{cfg.run_name}.pt" if cfg.checkpoint_dir else None
    owned = ckpt.exclusive(path) if path is not None and ctx.is_main else contextlib.nullcontext()
    with owned:
        state = _resume_or_start(path, cfg, run_config, model, run, ctx.is_main)
        for record in state.history:  # a resumed run's observers see a gap-free history
            if hooks.on_epoch_end is not None:
                hooks.on_epoch_end(record)
        while state.epoch < cfg.epochs and not _stop_early(state, cfg):
            _run_epoch(run, state, val_dev, val_every, path, run_config, model)
    _check_ranks_agree(run)
    best = copy.deepcopy(run.eval_model)
    if state.best_state is not None:
        best.load_state_dict(state.best_state)
    best = best.to("cpu", memory_format=torch.contiguous_format).eval()
    if hasattr(model, "spec"):
        best.spec = model.spec
    return FitResult(best, state.history, state.best_epoch, _nan_if_none(state.best_metric),
                     state.train_seconds, run_config)


def _epoch(run: _Run, val: tuple[Tensor, Tensor] | None, epoch: int,
           validated: bool) -> dict[str, float]:
    """Train one epoch, validate if ``validated``; the epoch's record (seconds of each part)."""
    start = time.perf_counter()
    train_metrics = _out_of_memory_guard(run.cfg)(train_one_epoch)(run, epoch)
    seconds = time.perf_counter() - start
    for module in [run.net] + ([run.eval_model] if run.eval_model is not run.net else []):
        distributed.average_norm_statistics(module, run.ctx)
    val_metrics = _validate(run, val) if validated else {}
    val_seconds = time.perf_counter() - start - seconds
    images = train_metrics.pop("images")  # images actually processed, all ranks
    return {"epoch": epoch, **train_metrics, **{f"val_{k}": v for k, v in val_metrics.items()},
            "lr": run.schedule.lr, "epoch_seconds": seconds, "val_seconds": val_seconds,
            "images_per_second": images / seconds}


def _check_ranks_agree(run: _Run) -> None:
    """Under DDP every rank must end with the same weights; a difference (an unsynchronised
    buffer, a rank that skipped a step) would make rank 0's model not the one that was trained."""
    if not run.ctx.active:
        return
    sums = torch.stack([v.detach().double().sum() for v in run.eval_model.state_dict().values()
                        if v.is_floating_point()])
    if not distributed.same_on_all_ranks(sums, run.ctx):
        raise RuntimeError(f"the {run.ctx.world_size} ranks ended with different weights")
    if run.ctx.is_main:
        log.info("Weights identical on all %d ranks.", run.ctx.world_size)


def _first_images(source: BatchSource) -> Tensor:
    """Up to ``_DATA_INIT_IMAGES`` training images for a model's ``data_init``: the first ones of
    a resident split, a seeded draw from a streamed one."""
    if isinstance(source, ResidentBatches):
        return source.images[:_DATA_INIT_IMAGES]
    batches = source.batches(torch.Generator().manual_seed(0), _DATA_INIT_IMAGES, 0, 1)
    return next(iter(batches))[0]


def _resume_or_start(path: Path | None, cfg: TrainConfig, run_config: dict[str, Any],
                     model: nn.Module, run: _Run, is_main: bool) -> _State:
    """The restored state of checkpoint ``path`` with ``cfg.resume``, else a fresh one (saying
    in one line when ``resume`` finds no checkpoint, or a fresh start will replace one)."""
    if path is None or not is_main and not cfg.resume:
        return _State()
    if cfg.resume and path.exists():
        return _restore(path, run_config, model, run)
    if cfg.resume and is_main:
        log.warning("train.resume is true but there is no checkpoint %s: starting afresh.", path)
    elif path.exists() and is_main:
        log.info("Starting afresh: %s is replaced after the first epoch (train.resume: true "
                 "continues from it instead).", path)
    return _State()


def _run_epoch(run: _Run, state: _State, val: tuple[Tensor, Tensor] | None, val_every: int,
               path: Path | None, run_config: dict[str, Any], model: nn.Module) -> None:
    """One epoch: train, validate when due, record, checkpoint, report."""
    cfg, ctx = run.cfg, run.ctx
    epoch = state.epoch + 1
    validated = epoch % val_every == 0 or epoch == cfg.epochs
    record = _epoch(run, val if validated else None, epoch, validated)
    _end_epoch(state, record, cfg, run.schedule, run.eval_model,
               skipped=not validated and (val is not None or run.hooks.validate is not None))
    if path is not None and ctx.is_main:
        _save(path, run_config, state, model, run)
    if ctx.is_main:
        _log_epoch(record, cfg)
    if run.hooks.on_epoch_end is not None:
        run.hooks.on_epoch_end(record)


def _start(model: nn.Module, cfg: TrainConfig, hooks: TrainHooks, device: torch.device,
           ctx: distributed.DistContext, source: BatchSource) -> _Run:
    """Optimiser, schedule, scaler and EMA for ``model``, with ``hooks``' defaults filled in."""
    steps = source.steps(cfg.batch_size, ctx.world_size)
    optimizer = build_optimizer(model, cfg, hooks.lr_scale)
    ema = _ema(model, cfg.ema_decay)
    hooks = replace(hooks, train_transform=hooks.train_transform or _plain_train_transform,
                    eval_transform=hooks.eval_transform or to_float,
                    loss_fn=hooks.loss_fn or _cross_entropy(cfg.label_smoothing))
    ddp_model = _data_parallel(model, ctx, device)
    return _Run(cfg=cfg, hooks=hooks, device=device, ctx=ctx, source=source, steps=steps,
                net=model,
                model=torch.compile(ddp_model) if cfg.compile else ddp_model,
                eval_model=ema.module if ema is not None else model, optimizer=optimizer,
                schedule=LRSchedule(optimizer, cfg, steps), ema=ema,
                scaler=torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16"))


def train_one_epoch(run: _Run, epoch: int) -> dict[str, float]:
    """One pass over the run's batch source in a seeded random order; under DDP every rank draws
    the same order and takes its share of it."""
    cfg, ctx, device, hooks = run.cfg, run.ctx, run.device, run.hooks
    train_mode(run.model)
    gen = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + epoch)
    set_epoch = getattr(hooks.train_transform, "set_epoch", None)
    if set_epoch is not None:  # as DistributedSampler.set_epoch: epoch-dependent augmentation
        set_epoch(epoch)
    steps = run.steps
    batches = run.source.batches(gen, cfg.batch_size, ctx.rank, ctx.world_size)
    if ctx.active:  # augmentation randomness differs per rank, the data order does not
        gen.manual_seed(cfg.seed * 1_000_003 + epoch + 7919 * ctx.rank)
    losses = torch.zeros(steps, device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = scored = 0
    progress = Progress(steps, f"epoch {epoch}/{cfg.epochs}", cfg.progress)
    for step, (x, y) in enumerate(batches):
        inputs, target = hooks.train_transform(x.to(device, non_blocking=True),
                                               y.to(device, non_blocking=True), gen)
        if cfg.channels_last and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        loss, logits = _step(run, inputs, target)
        losses[step] = loss.detach()
        # On the CPU checking costs no device sync, so stop at the very step.
        if device.type == "cpu" and not math.isfinite(losses[step]):
            _raise_non_finite(losses, epoch)
        if logits is not None:
            hard = target if target.ndim == 1 else target.argmax(1)
            correct += (logits.argmax(1) == hard).sum()
            scored += len(x)
        seen += len(x)
        progress.update(loss=losses[step])
    progress.close()
    if not torch.isfinite(losses).all():
        _raise_non_finite(losses, epoch)
    totals = distributed.all_reduce_sum(torch.stack(
        [losses.sum(), correct.float(), torch.tensor(float(scored), device=device),
         torch.tensor(float(seen), device=device)]), ctx)
    accuracy = {"train_accuracy": (totals[1] / totals[2]).item()} if totals[2] > 0 else {}
    return {"train_loss": (totals[0] / (steps * ctx.world_size)).item(), **accuracy,
            "images": totals[3].item()}


def _step(run: _Run, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor | None]:
    """Forward, backward and one optimiser step; returns the loss and the logits (or None)."""
    hooks, cfg = run.hooks, run.cfg
    with autocast(run.device, cfg.precision):
        if hooks.objective is not None:
            loss, logits = hooks.objective(run.model, inputs, target)
        else:
            logits = run.model(inputs)
            loss = hooks.loss_fn(logits, target)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    if cfg.grad_clip_norm is not None:
        run.scaler.unscale_(run.optimizer)
        nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip_norm)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.schedule.step()
    if hooks.after_step is not None:
        hooks.after_step(run.net)
    if run.ema is not None:
        run.ema.update_parameters(run.model)
    return loss, logits


def _validate(run: _Run, val: tuple[Tensor, Tensor] | None) -> dict[str, float]:
    if run.hooks.validate is not None:
        return run.hooks.validate(run.eval_model)
    if val is None:
        return {}
    return evaluate(run.eval_model, *val, run.cfg, run.hooks.eval_transform, run.device)


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 512,
            transform: EvalTransform = to_float, device: torch.device | str | None = None,
            precision: str = "auto", channels_last: bool = True) -> Tensor:
    """Logits for every input, in order, as a float32 CPU tensor; ``precision`` as in training
    (``auto``: bf16 autocast where the device has native bf16 units)."""
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
               cfg: TrainConfig, hooks: TrainHooks,
               fingerprint: dict[str, Any] | None) -> FitResult:
    """``fit`` in ``cfg.devices`` local processes; the caller gets rank 0's result, and
    ``hooks.on_epoch_end`` runs here, in the caller, on rank 0's records as they arrive (it may
    raise to stop the training, e.g. a pruned trial)."""
    on_epoch_end, hooks = hooks.on_epoch_end, replace(hooks, on_epoch_end=None)
    out = distributed.spawn(_fit_on_rank, cfg.devices, model, train, val, cfg, hooks,
                            fingerprint, on_message=on_epoch_end)
    best = copy.deepcopy(model).eval()
    best.load_state_dict(out["state_dict"])
    return FitResult(best, out["history"], out["best_epoch"], out["best_metric"],
                     out["train_seconds"], out["config"])


def _fit_on_rank(model: nn.Module, train: tuple[Tensor, Tensor],
                 val: tuple[Tensor, Tensor] | None, cfg: TrainConfig, hooks: TrainHooks,
                 fingerprint: dict[str, Any] | None,
                 send: Callable[[Any], None] | None) -> dict[str, Any]:
    result = fit(model, train, val, cfg, replace(hooks, on_epoch_end=send),
                 fingerprint=fingerprint)
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


def _capped(val: tuple[Tensor, Tensor], cfg: TrainConfig) -> tuple[Tensor, Tensor]:
    """``val``, or its seeded stratified subset of ``cfg.val_max_images`` images."""
    if cfg.val_max_images is None or cfg.val_max_images >= len(val[1]):
        return val
    kept = stratified_sample(val[1], cfg.val_max_images, cfg.seed)
    return val[0][kept.to(val[0].device)], val[1][kept.to(val[1].device)]


def _ema(model: nn.Module, decay: float | None) -> nn.Module | None:
    if decay is None:
        return None
    from functools import partial

    from torch.optim.swa_utils import AveragedModel

    return AveragedModel(model, multi_avg_fn=partial(ema_step, decay=decay), use_buffers=True)


@torch.no_grad()
def ema_step(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor,
             decay: float) -> None:
    """One EMA update with timm's warm-up, decay_n = min(decay, (1 + n) / (10 + n)): a short run's
    average is not dominated by its first weights (airbench warms its Lookahead decay up too).
    Integer buffers (batch-norm step counts) take the model's value."""
    n = float(num_averaged)  # one scalar sync per step on a GPU: negligible
    d = min(decay, (1 + n) / (10 + n))
    if torch.is_floating_point(averaged[0]):
        torch._foreach_lerp_(averaged, current, 1 - d)
    else:
        torch._foreach_copy_(averaged, current)


def _end_epoch(state: _State, record: dict[str, float], cfg: TrainConfig,
               schedule: LRSchedule, eval_model: nn.Module, skipped: bool = False) -> None:
    """Append ``record``; keep the weights if the monitored metric improved. An epoch whose
    validation was ``skipped`` (``val_every``) cannot be judged and is never the best."""
    state.epoch = int(record["epoch"])
    state.history.append(record)
    state.train_seconds += record["epoch_seconds"]
    value = record.get(cfg.monitor)
    if value is None and skipped:
        return
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
    """Patience counts epochs but is checked only after an epoch that measured the monitor."""
    if cfg.patience is None or not state.history or cfg.monitor not in state.history[-1]:
        return False
    stop = state.epoch - state.best_epoch >= cfg.patience
    if stop:
        log.info("Early stopping after epoch %d: %s has not improved for %d epochs (best %.4f at "
                 "epoch %d).", state.epoch, cfg.monitor, cfg.patience, state.best_metric,
                 state.best_epoch)
    return stop


def _save(path: Path, run_config: dict[str, Any], state: _State, model: nn.Module,
          run: _Run) -> None:
    ckpt.save_atomic({
        "config": run_config, "epoch": state.epoch, "history": state.history,
        "best_epoch": state.best_epoch, "best_metric": state.best_metric,
        "best_state": state.best_state, "train_seconds": state.train_seconds,
        "model": model.state_dict(), "optimizer": run.optimizer.state_dict(),
        "schedule": run.schedule.state_dict(), "scaler": run.scaler.state_dict(),
        "ema": run.ema.state_dict() if run.ema is not None else None,
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }, path)


def _restore(path: Path, run_config: dict[str, Any], model: nn.Module, run: _Run) -> _State:
    saved = ckpt.load(path)
    diff = ckpt.config_differences(saved["config"], run_config)
    if diff:
        raise ckpt.CheckpointMismatchError(
            f"cannot resume from {path}: it was made with a different configuration ("
            + "; ".join(diff) + "). Set train.resume: false to start afresh, or change "
            "train.run_name to keep both.")
    model.load_state_dict(saved["model"])
    run.optimizer.load_state_dict(saved["optimizer"])
    run.schedule.load_state_dict(saved["schedule"])
    run.scaler.load_state_dict(saved["scaler"])
    if run.ema is not None and saved["ema"] is not None:
        run.ema.load_state_dict(saved["ema"])
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
    shown = " ".join(f"{k.replace('accuracy', 'acc')} {record[k]:.4f}" for k in record
                     if k.startswith(("train_", "val_")))
    log.info("epoch %d/%d %s lr %.3g %.1fs %.0f img/s", record["epoch"], cfg.epochs, shown,
             record["lr"], record["epoch_seconds"], record["images_per_second"])


def _nan_if_none(v: float | None) -> float:
    return float("nan") if v is None else v
