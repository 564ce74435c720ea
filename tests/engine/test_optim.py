from dataclasses import replace

import pytest
from torch import nn

from deepvision.engine import TrainConfig
from deepvision.engine.optim import LRSchedule, build_optimizer, lr_factor, param_groups
from tests.engine.conftest import TinyNet


def _groups_by_name(model, cfg, lr_scale=None):
    ids = {id(p): n for n, p in model.named_parameters()}
    return [({ids[id(p)] for p in g["params"]}, g["lr"], g["weight_decay"])
            for g in param_groups(model, cfg, lr_scale)]


def test_no_weight_decay_on_norms_and_biases():
    cfg = TrainConfig(weight_decay=0.01, lr=0.1)
    groups = {frozenset(names): wd for names, _, wd in _groups_by_name(TinyNet(), cfg)}
    assert groups == {frozenset({"conv.weight", "fc.weight"}): 0.01,
                      frozenset({"conv.bias", "norm.weight", "norm.bias", "fc.bias"}): 0.0}


def test_decay_everything_when_switched_on():
    cfg = TrainConfig(weight_decay=0.01, decay_norm_and_bias=True)
    [(names, _, wd)] = _groups_by_name(TinyNet(), cfg)
    assert len(names) == 6 and wd == 0.01


def test_frozen_parameters_are_left_out_and_lr_scaled():
    model = TinyNet()
    model.conv.requires_grad_(False)
    cfg = TrainConfig(weight_decay=0.0, lr=0.1)
    groups = _groups_by_name(model, cfg, lr_scale=lambda n: 0.1 if n.startswith("norm") else 1.0)
    named = {frozenset(n): lr for n, lr, _ in groups}
    assert named == {frozenset({"norm.weight", "norm.bias"}): pytest.approx(0.01),
                     frozenset({"fc.weight", "fc.bias"}): 0.1}


def test_no_trainable_parameters_is_an_error():
    model = TinyNet().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer(model, TrainConfig())


@pytest.mark.parametrize("schedule", ["cosine", "warmup_cosine", "multistep", "constant"])
def test_warmup_is_linear_then_schedule(schedule):
    cfg = TrainConfig(epochs=10, warmup_epochs=2, schedule=schedule, milestones=(5,), gamma=0.1)
    assert lr_factor(0, 100, 10, cfg) == pytest.approx(1 / 20)
    assert lr_factor(19, 100, 10, cfg) == pytest.approx(1.0)
    end = lr_factor(99, 100, 10, cfg)
    assert end == pytest.approx({"cosine": 0.0, "warmup_cosine": 0.0, "multistep": 0.1,
                                 "constant": 1.0}[schedule], abs=1e-3)


def test_cosine_is_half_way_at_the_middle():
    cfg = TrainConfig(epochs=10, schedule="cosine", warmup_epochs=0)
    assert lr_factor(50, 100, 10, cfg) == pytest.approx(0.5)


def test_plateau_decays_after_patience():
    cfg = TrainConfig(epochs=10, schedule="plateau", plateau_patience=2, gamma=0.5, lr=0.1,
                      warmup_epochs=0)
    sched = LRSchedule(build_optimizer(TinyNet(), cfg), cfg, steps_per_epoch=5)
    for value in (0.5, 0.6, 0.6, 0.6):
        sched.epoch_end(value, "max")
    assert sched.lr == pytest.approx(0.05)
    restored = LRSchedule(build_optimizer(TinyNet(), cfg), cfg, steps_per_epoch=5)
    restored.load_state_dict(sched.state_dict())
    assert restored.lr == pytest.approx(0.05)


def test_warmup_cosine_defaults_to_30_percent_warmup():
    cfg = replace(TrainConfig(epochs=10, schedule="warmup_cosine"), warmup_epochs=0.0)
    assert lr_factor(29, 100, 10, cfg) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, cfg) < 0.5


def test_triangle_rises_then_falls_linearly_to_the_floor():
    cfg = TrainConfig(epochs=10, schedule="triangle", warmup_epochs=2, min_lr_ratio=0.1)
    assert lr_factor(19, 100, 10, cfg) == pytest.approx(1.0)
    assert lr_factor(60, 100, 10, cfg) == pytest.approx(1 - 0.9 * 40 / 80)
    assert lr_factor(100, 100, 10, cfg) == pytest.approx(0.1)


def test_norm_lr_scale_multiplies_the_lr_of_norm_parameters_only():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    groups = param_groups(model, TrainConfig(lr=0.1, norm_lr_scale=64),
                          lr_scale=lambda name: 0.5)
    by_size = {sum(p.numel() for p in g["params"]): g["lr"] for g in groups}
    assert by_size == {18: pytest.approx(0.05), 2: pytest.approx(0.05), 4: pytest.approx(3.2)}


def test_decayed_norm_parameters_shrink_per_step_like_the_others_under_norm_lr_scale():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    groups = param_groups(model, TrainConfig(lr=0.1, weight_decay=0.01, norm_lr_scale=64,
                                             decay_norm_and_bias=True))
    shrink = {sum(p.numel() for p in g["params"]): g["lr"] * g["weight_decay"] for g in groups}
    assert shrink == {20: pytest.approx(0.001), 4: pytest.approx(0.001)}


def test_the_old_name_onecycle_still_works_with_a_deprecation_warning():
    with pytest.warns(FutureWarning, match="train.schedule: onecycle is deprecated"):
        cfg = TrainConfig(epochs=10, schedule="onecycle")
    assert cfg.schedule == "warmup_cosine"
