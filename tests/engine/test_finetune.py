"""Transfer learning modes around the one loop, on a tiny 'pretrained' checkpoint backbone."""

from functools import partial

import pytest
import torch

from deepvision.data.transforms import normalize
from deepvision.engine import TrainConfig
from deepvision.engine.finetune import FineTuneConfig, fine_tune, gradual, linear_probe
from deepvision.engine.optim import build_optimizer
from deepvision.models import create_model
from deepvision.models.bundle import save_checkpoint_bundle
from tests.engine.conftest import toy_data

EVAL = partial(normalize, mean=(0.0,), std=(1.0,))


@pytest.fixture
def transfer_model(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "backbone.pt"
    save_checkpoint_bundle(create_model("resnet20", 5, 1), path)
    return create_model("transfer", 3, 1, backbone=f"checkpoint:{path}")


@pytest.fixture
def cfg():
    return TrainConfig(epochs=1, batch_size=16, lr=0.05, warmup_epochs=0, checkpoint_dir=None,
                       progress="off")


@pytest.mark.parametrize("cache_features", [False, True])
def test_linear_probe_leaves_every_backbone_tensor_bit_identical(transfer_model, cfg,
                                                                 cache_features):
    x, y = toy_data()
    before = {k: v.clone() for k, v in transfer_model.state_dict().items()}
    result = linear_probe(transfer_model, (x, y), (x, y), cfg, EVAL, cache_features=cache_features)
    after = result.model.state_dict()
    body = [k for k in before if k.startswith("body.")]
    assert any("running_mean" in k for k in body)  # batch-norm statistics are checked too
    assert all(torch.equal(before[k], after[k]) for k in body)
    assert not torch.equal(before["head.weight"], after["head.weight"])


def test_fine_tune_trains_the_backbone_at_a_fraction_of_the_lr(transfer_model, cfg):
    x, y = toy_data()
    result = fine_tune(transfer_model, (x, y), None, cfg, EVAL, backbone_lr_factor=0.1)
    before, after = transfer_model.state_dict(), result.model.state_dict()
    assert not torch.equal(before["body.stem.0.0.weight"], after["body.stem.0.0.weight"])
    opt = build_optimizer(transfer_model, cfg, lambda n: 1.0 if n.startswith("head.") else 0.1)
    seen = sorted({g["lr"] for g in opt.param_groups})
    assert seen == pytest.approx([0.005, 0.05])


def test_gradual_unfreezes_stage_by_stage_with_a_continuous_history(transfer_model, cfg):
    x, y = toy_data()
    stages = transfer_model.stages()
    result = gradual(transfer_model, (x, y), (x, y), TrainConfig(**{**cfg.__dict__, "epochs": 3}),
                     EVAL, phases=3)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert [r["phase"] for r in result.history] == [0, 1, 2]
    before, after = transfer_model.state_dict(), result.model.state_dict()
    last, first = stages[-1], stages[0]
    names = {id(p): n for n, p in transfer_model.named_parameters()}
    last_name = names[id(next(last.parameters()))]
    first_name = names[id(next(first.parameters()))]
    assert not torch.equal(before[last_name], after[last_name])  # unfrozen in phase 1
    assert torch.equal(before[first_name], after[first_name])  # never unfrozen


def test_budget_epochs_scale_with_the_label_fraction():
    ft = FineTuneConfig(label_fraction=0.1, train={"epochs": 3})
    assert ft.train_config({}, "scratch").epochs == 30


def test_fine_tune_config_checks_overrides_before_training():
    with pytest.raises(ValueError, match="epochz"):
        FineTuneConfig(train={"epochz": 3})
    with pytest.raises(ValueError, match="fine_tune.mode"):
        FineTuneConfig(mode="half")
