"""Distillation: the loss against a hand computation, the teacher frozen, a teacher/student run."""

import math

import pytest
import torch
from torch import nn

from deepvision.compression.distill import Distillation, distillation_loss, with_hint
from deepvision.compression.steps import DistillConfig
from tests.engine.conftest import TinyNet


def test_distillation_loss_matches_a_hand_computation():
    student = torch.tensor([[2.0, 0.0, -1.0]])
    teacher = torch.tensor([[1.0, 1.0, 0.0]])
    target = torch.tensor([0])
    t, alpha = 2.0, 0.7

    def softmax(z):
        e = [math.exp(v / t) for v in z]
        return [v / sum(e) for v in e]

    p_s, p_t = softmax([2.0, 0.0, -1.0]), softmax([1.0, 1.0, 0.0])
    kl = sum(pt * math.log(pt / ps) for pt, ps in zip(p_t, p_s, strict=True))
    e = [math.exp(v) for v in (2.0, 0.0, -1.0)]
    ce = -math.log(e[0] / sum(e))
    expected = alpha * t * t * kl + (1 - alpha) * ce
    assert distillation_loss(student, teacher, target, t, alpha).item() == pytest.approx(expected)


def test_alpha_zero_is_plain_cross_entropy():
    s, t, y = torch.randn(5, 4), torch.randn(5, 4), torch.randint(0, 4, (5,))
    loss = distillation_loss(s, t, y, 3.0, 0.0)
    assert loss.item() == pytest.approx(nn.functional.cross_entropy(s, y).item())


def test_the_teacher_runs_frozen_in_eval_mode_and_only_the_student_gets_gradients():
    torch.manual_seed(0)
    teacher, student = TinyNet(), TinyNet()
    teacher.train()
    objective = Distillation(teacher, temperature=4.0, alpha=0.5)
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 3, (6,))
    loss, logits = objective(student, x, y)
    loss.backward()
    assert not objective.teacher.training
    assert all(p.grad is None for p in objective.teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())
    assert logits.shape == (6, 3)


def test_the_hint_loss_trains_a_regressor_between_the_named_layers():
    torch.manual_seed(0)
    teacher, student = TinyNet(), TinyNet()
    hinted = with_hint(student, teacher, "conv", "conv", torch.rand(2, 1, 8, 8))
    objective = Distillation(teacher, 4.0, 0.5, hint_weight=1.0, student_layer="conv",
                             teacher_layer="conv")
    x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 3, (4,))
    with_hint_loss, _ = objective(hinted, x, y)
    without, _ = Distillation(teacher, 4.0, 0.5)(student, x, y)
    with_hint_loss.backward()
    assert with_hint_loss.item() > without.item()
    assert hinted.regressor.weight.grad is not None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"temperature": 0.0}, "temperature=0.0 must be > 0"),
    ({"alpha": 1.5}, r"alpha=1.5 must be in \[0, 1\]"),
    ({"student": None}, "student null .* needs a teacher other than 'input'"),
    ({"hint_weight": 1.0}, "needs student_layer and teacher_layer"),
])
def test_bad_distillation_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DistillConfig(**kwargs)


def test_a_teacher_teaches_a_student_on_digits():
    from functools import partial

    from sklearn.datasets import load_digits

    from deepvision.compression.steps import CompressConfig, StepContext, distill_step
    from deepvision.data.transforms import normalize
    from deepvision.engine import TrainConfig, TrainHooks, fit, predict
    from deepvision.models import create_model

    digits = load_digits()
    x = torch.tensor(digits.images * 15, dtype=torch.uint8).unsqueeze(1)
    y = torch.tensor(digits.target)
    train, test = (x[:1400], y[:1400]), (x[1400:], y[1400:])
    prep = partial(normalize, mean=[0.3], std=[0.4])

    def augment(images, labels, _generator):  # no augmentation: the same preparation
        return prep(images), labels
    budget = {"epochs": 15, "batch_size": 64, "lr": 0.05, "threads": 1, "checkpoint_dir": None,
              "progress": "off", "warmup_epochs": 0}
    torch.manual_seed(0)
    teacher = fit(create_model("lenet5", 10, 1), train, None, TrainConfig(**budget),
                  TrainHooks(augment, prep)).model
    teacher.meta = {"mean": [0.3], "std": [0.4], "class_names": [str(i) for i in range(10)]}
    cfg = CompressConfig(steps=("distill",), distill=DistillConfig(student="lenet5"))
    ctx = StepContext(train, None, TrainConfig(**budget), augment, prep, (1, 8, 8), cfg, budget)
    (alone_name, alone), (name, taught) = distill_step(teacher, ctx)

    def accuracy(model):
        return (predict(model, test[0], transform=prep).argmax(1) == test[1]).float().mean()

    assert (alone_name, name) == ("student_alone", "distill")
    assert accuracy(taught) > 0.85 and accuracy(alone) > 0.5
    assert taught.meta["class_names"] == teacher.meta["class_names"]
