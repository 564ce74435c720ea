"""Knowledge distillation (Hinton et al. 2015; course session 6) as a ``TrainHooks.objective``:
the one training loop, with a loss over the student and a second, frozen model.

    loss = α · T² · KL(p_t ‖ p_s) + (1 − α) · CE(z_s, y)        p = softmax(z / T)

KL(p_t ‖ p_s) — the teacher's soft targets against the student's — is Hinton's soft-target
cross-entropy less the teacher's entropy (a constant), so its gradient is the paper's; T² keeps
the soft term's gradient scale independent of T. The teacher runs in eval mode under
``torch.no_grad``, once per batch, on the very images (augmented) the student sees. An optional
hint (FitNets, Romero et al. 2015) adds β · MSE between a named student layer's output, mapped
by a learned 1×1 convolution, and the teacher's output at its named layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def distillation_loss(student: Tensor, teacher: Tensor, target: Tensor, temperature: float,
                      alpha: float) -> Tensor:
    """α · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − α) · cross-entropy."""
    soft = F.kl_div(F.log_softmax(student.float() / temperature, dim=1),
                    F.log_softmax(teacher.float() / temperature, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * temperature ** 2 * soft + (1 - alpha) * F.cross_entropy(student.float(),
                                                                           target)


def check_distill(temperature: float, alpha: float, hint_weight: float) -> None:
    if temperature <= 0:
        raise ValueError(f"compress.distill.temperature={temperature!r} must be > 0 (4 is usual)")
    if not 0 <= alpha <= 1:
        raise ValueError(f"compress.distill.alpha={alpha!r} must be in [0, 1] (the soft "
                         "targets' share of the loss)")
    if hint_weight < 0:
        raise ValueError(f"compress.distill.hint_weight={hint_weight!r} must be >= 0")


class HintedStudent(nn.Module):
    """The student plus the 1×1 regressor of a hint loss: one module, so ``fit``'s optimiser
    trains both; ``student`` is what is kept."""

    def __init__(self, student: nn.Module, regressor: nn.Module) -> None:
        super().__init__()
        self.student, self.regressor = student, regressor

    def forward(self, x: Tensor) -> Tensor:
        return self.student(x)


def with_hint(student: nn.Module, teacher: nn.Module, student_layer: str, teacher_layer: str,
              example: Tensor) -> HintedStudent:
    """``student`` wrapped with a regressor from ``student_layer``'s channels to
    ``teacher_layer``'s (found by one forward pass of ``example``)."""
    s, t = (_output_of(m, layer, example) for m, layer in ((student, student_layer),
                                                            (teacher, teacher_layer)))
    return HintedStudent(student, nn.Conv2d(s.shape[1], t.shape[1], 1))


@dataclass
class Distillation:
    """``TrainHooks.objective`` of distillation (see the module docstring). ``teacher`` is moved
    to the inputs' device and memory format on first use and never trained."""

    teacher: nn.Module
    temperature: float = 2.0
    alpha: float = 0.5
    hint_weight: float = 0.0
    student_layer: str | None = None
    teacher_layer: str | None = None

    def __call__(self, model: nn.Module, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        teacher = self._ready(inputs)
        hinted = self.hint_weight > 0 and self.student_layer is not None
        net = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        with torch.no_grad(), _Capture(teacher, self.teacher_layer if hinted else None) as t_out:
            t_logits = teacher(inputs)
        student = net.student if isinstance(net, HintedStudent) else net
        with _Capture(student, self.student_layer if hinted else None) as s_out:
            logits = model(inputs)
        loss = distillation_loss(logits, t_logits, target, self.temperature, self.alpha)
        if hinted:
            loss = loss + self.hint_weight * F.mse_loss(net.regressor(s_out.value).float(),
                                                        t_out.value.float())
        return loss, logits

    def _ready(self, inputs: Tensor) -> nn.Module:
        param = next(self.teacher.parameters())
        if param.device != inputs.device or param.requires_grad:
            fmt = (torch.channels_last if inputs.is_contiguous(memory_format=torch.channels_last)
                   and inputs.ndim == 4 else torch.contiguous_format)
            self.teacher = self.teacher.to(inputs.device, memory_format=fmt).eval()
            self.teacher.requires_grad_(False)
        return self.teacher


class _Capture:
    """Context manager holding the output of ``model``'s layer ``name`` (None: nothing)."""

    def __init__(self, model: nn.Module, name: str | None) -> None:
        self.model, self.name, self.value, self._hook = model, name, None, None

    def __enter__(self) -> _Capture:
        if self.name is not None:
            self._hook = self.model.get_submodule(self.name).register_forward_hook(self._keep)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._hook is not None:
            self._hook.remove()

    def _keep(self, _module: nn.Module, _args: object, output: Tensor) -> None:
        self.value = output


def _output_of(model: nn.Module, layer: str, example: Tensor) -> Tensor:
    with torch.no_grad(), _Capture(model, layer) as out:
        model.eval()(example)
    return out.value
