"""Compression steps by name: ``register_step`` / ``run_steps`` / ``list_steps``.

A step is a function ``(model, StepContext) → model``: a model transform (prune, quantize) or a
training run through the one loop (``fit``) with a loss or a weight parametrization (fine-tune,
QAT, BinaryConnect). Distillation and factorization register more steps the same way. A step never
changes its input; it returns a new model whose ``meta["compression"]`` records what a bundle needs
to rebuild it (``restore``) besides the registry spec: the pruned layer shapes, the precision,
the int8 graph's layer lists, and the dense counts the challenge score is measured against.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from deepvision.compression import distill, factorize, prune, quantize
from deepvision.compression.score import dense_counts
from deepvision.config import check_range
from deepvision.engine.config import TrainConfig
from deepvision.engine.loop import EvalTransform, TrainHooks, TrainTransform, fit

Data = tuple[Tensor, Tensor]
FINE_TUNE = {"epochs": 5, "lr": 0.01, "warmup_epochs": 0}


@dataclass(frozen=True)
class DistillConfig:
    """``compress.distill``: the teacher, the student and the loss of the ``distill`` step."""

    teacher: str = "input"                # input (the model entering the step) | checkpoint:<path>
    # | mlflow:runs:/<id>/model | mlflow:models:/<name>/<version>: a trained project model
    student: str | None = "lenet5"        # a registry name (built fresh); null = the model
    # entering the step is the student (then teacher must name another model)
    student_kwargs: dict[str, Any] = field(default_factory=dict)  # its architecture arguments
    # T softens both distributions; the soft term's gradient grows with T (T² · (p_s − p_t)/T),
    # and at T = 4, α = 0.9 a LeNet-5 student without batch norm diverged on digits at lr 0.05
    temperature: float = 2.0
    alpha: float = 0.5                    # weight of the soft-target term, [0, 1]
    hint_weight: float = 0.0              # β of the optional FitNets hint loss (0 = off)
    student_layer: str | None = None      # hint: student module whose output is matched
    teacher_layer: str | None = None      # hint: teacher module it is matched to
    seed: int = 0                         # the fresh student's initialisation
    # params:train overrides for the student's training (both the distilled student and the
    # same student trained alone, for the comparison): a full training, not a fine-tuning
    train: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        distill.check_distill(self.temperature, self.alpha, self.hint_weight)
        if self.student is None and self.teacher == "input":
            raise ValueError("compress.distill: student null (the incoming model) needs a "
                             "teacher other than 'input'; name one (checkpoint:<path>, mlflow:…)")
        if self.hint_weight > 0 and (self.student_layer is None or self.teacher_layer is None):
            raise ValueError("compress.distill.hint_weight > 0 needs student_layer and "
                             "teacher_layer (module names, e.g. layer2 and layer2)")


@dataclass(frozen=True)
class FactorizeConfig:
    """``compress.factorize``: how ranks are chosen (exactly one of the three)."""

    energy: float | None = None           # per layer: smallest ranks keeping this share of the
    # squared singular values, (0, 1)
    ratio: float | None = 0.5             # global: the factorized layers keep ~this share of their
    # parameters, (0, 1)
    rank: int | None = None               # one fixed rank for every layer (>= 2; depthwise >= 1)
    mode: str = "lowrank"                 # lowrank (SVD, Tucker-2 for k×k) | depthwise (k×k
    # convolutions become depthwise k×k + pointwise 1×1, ``rank`` filters per input channel)

    def __post_init__(self) -> None:
        factorize.check_factorize(self.energy, self.ratio, self.rank, self.mode)


@dataclass(frozen=True)
class CompressConfig:
    """``params:compress``: which model, which steps in order, and each step kind's settings."""

    model: str = "trained_model"          # trained_model (the catalog's, newest or
    # --load-versions) | checkpoint:<path> | mlflow:runs:/<id>/model | mlflow:models:/<name>/<ver>
    steps: tuple[str, ...] = ("prune_structured", "fine_tune", "quantize_int8")  # run in order
    sparsity: float = 0.8                 # prune_unstructured: conv/linear weights removed, [0, 1)
    rounds: int = 3                       # prune_unstructured: prune → fine-tune rounds
    structured_ratio: float = 0.5         # prune_structured: fraction of channels removed, [0, 1)
    calibration_images: int = 512         # quantize_int8: training images that set the ranges
    per_channel: bool = True              # quantize_int8: one weight scale per output channel
    binary_clip: float = 1.0              # binary_connect: shadow weights clipped to ±this
    # params:train overrides for every training step (fine_tune, each pruning round, qat,
    # binary_connect): a short, gentle budget, not a second full training
    fine_tune: dict[str, Any] = field(default_factory=lambda: dict(FINE_TUNE))
    distill: DistillConfig = field(default_factory=DistillConfig)        # the distill step
    factorize: FactorizeConfig = field(default_factory=FactorizeConfig)  # the factorize step

    def __post_init__(self) -> None:
        check_steps(self.steps)
        prune.check_sparsity(self.sparsity, "compress.sparsity")
        prune.check_sparsity(self.structured_ratio, "compress.structured_ratio")
        check_range(self.rounds, "compress.rounds", 1)
        check_range(self.calibration_images, "compress.calibration_images", 1)
        check_range(self.binary_clip, "compress.binary_clip", 0, low_open=True)

    def train_config(self, train: Mapping[str, Any]) -> TrainConfig:
        """``params:train`` with the ``fine_tune`` overrides: the budget of every training step."""
        from deepvision.config import from_dict

        return from_dict(TrainConfig, {**train, **self.fine_tune}, "compress.fine_tune")


@dataclass(frozen=True)
class StepContext:
    """What steps need besides the model: data (uint8 images, labels), the training budget and
    transforms, the input shape (C, H, W) and the settings."""

    train: Data
    val: Data | None
    train_cfg: TrainConfig
    train_transform: TrainTransform | None
    eval_transform: EvalTransform
    input_shape: tuple[int, int, int]
    cfg: CompressConfig
    base_train: Mapping[str, Any] = field(default_factory=dict)  # params:train, unmodified

    def with_budget(self, overrides: Mapping[str, Any]) -> StepContext:
        """This context training with ``params:train`` + ``overrides`` instead of the
        ``compress.fine_tune`` budget."""
        from deepvision.config import from_dict

        cfg = from_dict(TrainConfig, {**self.base_train, **overrides}, "compress.distill.train")
        return replace(self, train_cfg=cfg)

    def fit(self, model: nn.Module, **hooks: Any) -> nn.Module:
        """``model`` trained through the one loop with this budget (extra ``TrainHooks`` fields
        in ``hooks``); the best epoch's weights, with the model's ``meta`` kept."""
        base = TrainHooks(train_transform=self.train_transform, eval_transform=self.eval_transform)
        trained = fit(model, self.train, self.val, self.train_cfg, replace(base, **hooks)).model
        return _with_meta(trained, getattr(model, "meta", {}))


# A step returns the next model, or labelled stages to report of which the last is the next
# model (distillation also reports the student trained alone).
Step = Callable[[nn.Module, StepContext], nn.Module | list[tuple[str, nn.Module]]]


@dataclass(frozen=True)
class StepKind:
    fn: Step
    last: bool = False     # nothing can follow it (the model no longer runs in torch)


_STEPS: dict[str, StepKind] = {}


def register_step(name: str, *, last: bool = False) -> Callable[[Step], Step]:
    """Register a step kind under ``name`` (usable as a decorator)."""
    def add(fn: Step) -> Step:
        if name in _STEPS:
            raise ValueError(f"compression step {name!r} is registered twice")
        _STEPS[name] = StepKind(fn, last)
        return fn
    return add


def list_steps() -> list[str]:
    return sorted(_STEPS)


def check_steps(names: tuple[str, ...] | list[str]) -> None:
    """Refuse unknown names (listing the known ones) and steps after a final one."""
    unknown = [n for n in names if n not in _STEPS]
    if unknown:
        raise ValueError(f"unknown compression step(s) {', '.join(map(repr, unknown))} in "
                         f"compress.steps; known steps: {', '.join(list_steps())}")
    for i, n in enumerate(names[:-1]):
        if _STEPS[n].last:
            raise ValueError(f"compress.steps: {n!r} must be the last step (its model runs in "
                             f"ONNX Runtime and cannot be trained or pruned further), but "
                             f"{names[i + 1]!r} follows it")


def run_steps(model: nn.Module, ctx: StepContext) -> list[tuple[str, nn.Module]]:
    """Every stage: ``("uncompressed", model)`` then one ``(step name, model)`` per step."""
    check_steps(ctx.cfg.steps)
    stages = [("uncompressed", model)]
    for name in ctx.cfg.steps:
        out = _STEPS[name].fn(stages[-1][1], ctx)
        for label, model in out if isinstance(out, list) else [(name, out)]:
            record = dict(model.meta.get("compression", {}))
            model.meta["compression"] = {**record, "steps": [*record.get("steps", []), name]}
            stages.append((label, model))
    return stages


def calibration_inputs(ctx: StepContext) -> Tensor:
    """The first ``calibration_images`` training images as the model sees them."""
    images = ctx.train[0][:ctx.cfg.calibration_images]
    if len(images) == 0:
        raise ValueError("quantize_int8 needs calibration images but the training split is "
                         "empty; run prepare first or use a model with its training data")
    return ctx.eval_transform(images)


# --- the step kinds ------------------------------------------------------------------------------

@register_step("fine_tune")
def fine_tune_step(model: nn.Module, ctx: StepContext) -> nn.Module:
    """Train all weights with the ``compress.fine_tune`` budget."""
    return ctx.fit(model)


@register_step("prune_unstructured")
def prune_unstructured_step(model: nn.Module, ctx: StepContext) -> nn.Module:
    """Iterative global magnitude pruning to ``sparsity``: ``rounds`` × (prune, fine-tune)."""
    for target in prune.sparsity_schedule(ctx.cfg.sparsity, ctx.cfg.rounds):
        model = ctx.fit(_with_meta(prune.prune_global_magnitude(model, target), model.meta))
        model = prune.make_permanent(model)
    return model


@register_step("prune_structured")
def prune_structured_step(model: nn.Module, ctx: StepContext) -> nn.Module:
    """Remove ``structured_ratio`` of every convolution's channels (L1 filter norm)."""
    record = dict(getattr(model, "meta", {}).get("compression", {}))
    record.setdefault("dense", dense_counts(model, ctx.input_shape))
    example = torch.zeros(1, *ctx.input_shape)
    pruned = prune.prune_channels(model, ctx.cfg.structured_ratio, example)
    record["layer_shapes"] = prune.layer_shapes(pruned)
    return _with_meta(pruned, {**model.meta, "compression": record})


def _half_step(precision: str) -> Step:
    def step(model: nn.Module, ctx: StepContext) -> nn.Module:
        record = {**model.meta.get("compression", {}), "precision": precision}
        return _with_meta(quantize.cast_weights(model, precision), {**model.meta,
                                                                    "compression": record})
    step.__doc__ = f"Weights and activations in {precision}."
    return step


register_step("quantize_fp16")(_half_step("fp16"))
register_step("quantize_bf16")(_half_step("bf16"))


@register_step("quantize_int8", last=True)
def quantize_int8_step(model: nn.Module, ctx: StepContext) -> nn.Module:
    """Post-training static int8 (ONNX Runtime), calibrated on training images."""
    q = quantize.quantize_int8(model, calibration_inputs(ctx), ctx.cfg.per_channel)
    record = {**model.meta.get("compression", {}),
              "int8": {"quantized": q.quantized, "float_layers": q.float_layers}}
    return _with_meta(q, {**model.meta, "compression": record})


@register_step("qat")
def qat_step(model: nn.Module, ctx: StepContext) -> nn.Module:
    """Quantization-aware training: int8 fake-quantized weights (straight-through) for the
    fine-tuning budget, then baked onto the int8 grid; follow it with ``quantize_int8``."""
    net = copy.deepcopy(model)
    quantize.parametrize_weights(net, quantize.FakeQuantWeight)
    return quantize.bake_weights(ctx.fit(net))


@register_step("binary_connect")
def binary_connect_step(model: nn.Module, ctx: StepContext) -> nn.Module:
    """BinaryConnect training: ±1 weights in the forward pass, float shadow weights clipped
    after every step; the first and last layers stay in float."""
    net = copy.deepcopy(model)
    quantize.parametrize_weights(net, quantize.BinarySign, quantize.first_and_last_layers(net))
    clip = _Clip(ctx.cfg.binary_clip)
    return quantize.bake_weights(ctx.fit(net, after_step=clip))


@dataclass(frozen=True)
class _Clip:
    bound: float

    def __call__(self, model: nn.Module) -> None:
        quantize.clip_shadow_weights(model, self.bound)


@register_step("distill")
def distill_step(model: nn.Module, ctx: StepContext) -> list[tuple[str, nn.Module]]:
    """Knowledge distillation into ``distill.student`` (Hinton et al. 2015), beside the same
    student trained alone with the same budget: what the teacher bought."""
    cfg = ctx.cfg.distill
    teacher = model if cfg.teacher == "input" else _load_model(cfg.teacher)
    student = model if cfg.student is None else _fresh_student(cfg, ctx)
    meta = {k: v for k, v in model.meta.items() if k != "compression"}
    student = _with_meta(student, meta if cfg.student is not None else model.meta)
    train = ctx.with_budget(cfg.train)
    alone = train.fit(student)
    objective = distill.Distillation(copy.deepcopy(teacher), cfg.temperature, cfg.alpha,
                                     cfg.hint_weight, cfg.student_layer, cfg.teacher_layer)
    net = student
    if cfg.hint_weight > 0:
        example = ctx.eval_transform(ctx.train[0][:2])
        net = _with_meta(distill.with_hint(student, teacher, cfg.student_layer,
                                           cfg.teacher_layer, example), student.meta)
    taught = train.fit(net, objective=objective)
    if isinstance(taught, distill.HintedStudent):
        taught = _with_meta(taught.student, student.meta)
    return [("student_alone", alone), ("distill", taught)]


@register_step("factorize")
def factorize_step(model: nn.Module, ctx: StepContext) -> nn.Module:
    """Low-rank factors for conv and linear layers (SVD; Tucker-2 or depthwise-separable for k×k
    convolutions); follow it with ``fine_tune``."""
    cfg = ctx.cfg.factorize
    net = prune.make_permanent(copy.deepcopy(model))
    ranks = factorize.choose_ranks(net, cfg.energy, cfg.ratio, cfg.rank, cfg.mode)
    record = dict(model.meta.get("compression", {}))
    record.setdefault("dense", dense_counts(model, ctx.input_shape))
    record["factorized"] = {**record.get("factorized", {}), **ranks}
    return _with_meta(factorize.factorize(net, ranks), {**model.meta, "compression": record})


def _fresh_student(cfg: DistillConfig, ctx: StepContext) -> nn.Module:
    from deepvision.models.registry import create_model

    classes = int(ctx.train[1].max()) + 1
    with torch.random.fork_rng(devices=[]):  # seed the init without touching global RNG state
        torch.manual_seed(cfg.seed)
        return create_model(cfg.student, classes, ctx.input_shape[0], **cfg.student_kwargs)


def _load_model(source: str) -> nn.Module:
    from deepvision.models.pretrained import load_backbone

    return load_backbone(source).model.eval()


# --- rebuilding from a bundle --------------------------------------------------------------------

def restore(model: nn.Module, record: Mapping[str, Any]) -> nn.Module:
    """Make a freshly built dense ``model`` take the form ``record`` (``meta["compression"]``)
    describes, so the compressed weights load into it strictly."""
    # Structure changes replay in step order: a factorization after a pruning factors the
    # pruned layers, a pruning after a factorization prunes the factors.
    for step in record.get("steps", []):
        if step == "factorize":
            factorize.refactor(model, record["factorized"])
        elif step == "prune_structured" and "layer_shapes" in record:
            prune.shrink_to(model, record["layer_shapes"])
    if "precision" in record:
        model = quantize.add_cast_hooks(model.to(quantize.HALF_DTYPES[record["precision"]]))
    if "int8" in record:
        spec = model.spec
        model = quantize.OnnxInt8Model(model, torch.zeros(0, dtype=torch.uint8),
                                       record["int8"]["quantized"],
                                       record["int8"]["float_layers"])
        model.spec = spec
    return model


def _with_meta(model: nn.Module, meta: Mapping[str, Any]) -> nn.Module:
    model.meta = copy.deepcopy(dict(meta))
    return model
