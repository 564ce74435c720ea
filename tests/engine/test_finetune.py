"""Transfer learning modes around the one loop, on a tiny 'pretrained' checkpoint backbone."""

from dataclasses import replace
from functools import partial

import pytest
import torch

from deepvision.data.transforms import normalize
from deepvision.engine import TrainConfig
from deepvision.engine.finetune import (
    FineTuneConfig,
    fine_tune,
    fit_linear,
    gradual,
    linear_probe,
    stage_probe,
)
from deepvision.engine.optim import build_optimizer
from deepvision.models import create_model
from deepvision.models.bundle import save_checkpoint_bundle
from deepvision.models.stages import stage_groups, stage_names, stage_parameters
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
    result = gradual(transfer_model, (x, y), (x, y), TrainConfig(**{**cfg.__dict__, "epochs": 3}),
                     EVAL, phases=3)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert [r["phase"] for r in result.history] == [0, 1, 2]
    before, after = transfer_model.state_dict(), result.model.state_dict()
    last = stage_parameters(transfer_model, len(stage_names(transfer_model)) - 1)[0]
    first = next(n for n in before if n.startswith("body.stem."))
    assert not torch.equal(before[last], after[last])  # unfrozen in phase 1
    assert torch.equal(before[first], after[first])  # never unfrozen


def test_budget_epochs_scale_with_the_label_fraction():
    ft = FineTuneConfig(label_fraction=0.1, train={"epochs": 3})
    assert ft.train_config({}, "scratch").epochs == 30


def test_fine_tune_config_checks_overrides_before_training():
    with pytest.raises(ValueError, match="epochz"):
        FineTuneConfig(train={"epochz": 3})
    with pytest.raises(ValueError, match="fine_tune.mode"):
        FineTuneConfig(mode="half")


def test_trainable_stages_1_leaves_every_earlier_tensor_bit_identical(transfer_model, cfg):
    x, y = toy_data()
    before = {k: v.clone() for k, v in transfer_model.state_dict().items()}
    result = fine_tune(transfer_model, (x, y), (x, y), cfg, EVAL, trainable_stages=1)
    after = result.model.state_dict()
    last = {f"{n}." for n in stage_groups(transfer_model)[-1]}
    earlier = [k for k in before if k.startswith("body.") and not k.startswith(tuple(last))]
    assert any("running_mean" in k for k in earlier)  # batch-norm statistics are checked too
    assert all(torch.equal(before[k], after[k]) for k in earlier)
    trained = [k for k in before if k.startswith(tuple(last)) and k.endswith("weight")]
    assert trained and not all(torch.equal(before[k], after[k]) for k in trained)
    assert not torch.equal(before["head.weight"], after["head.weight"])


def test_trainable_stages_beyond_the_backbone_fail_naming_the_stages(transfer_model, cfg):
    x, y = toy_data()
    with pytest.raises(ValueError, match=r"trainable_stages=4 .* 3 stages \(body.stages.0"):
        fine_tune(transfer_model, (x, y), None, cfg, EVAL, trainable_stages=4)


def test_stage_probe_fits_one_probe_per_stage_and_keeps_the_best(transfer_model, cfg):
    x, y = toy_data()
    result, probes = stage_probe(transfer_model, (x, y), (x, y), cfg, EVAL)
    assert probes.widths == [16, 32, 64] and len(probes.results) == 3
    rows = probes.rows()
    assert [r["best"] for r in rows].count(True) == 1
    best = next(r for r in rows if r["best"])
    assert best["val_accuracy"] == max(r["val_accuracy"] for r in rows)
    assert result.config["probe_stage"] == best["stage"]
    assert result.model.head.in_features == best["features"]
    trainable = [n for n, p in result.model.named_parameters() if p.requires_grad]
    assert trainable == ["head.weight", "head.bias"]


def test_a_probe_on_rescaled_features_is_folded_into_one_linear_layer(cfg):
    torch.manual_seed(0)
    # An early stage's scale: features 10^4 times smaller than the learning rate expects, far
    # from zero, and one feature that never varies on the training split.
    features = torch.randn(96, 4) * 1e-4 + 3
    features[:, 3] = 0.0
    labels = (features[:, 1] > 3).long()
    result = fit_linear((features, labels), None, 2, replace(cfg, epochs=10))
    head = result.model
    assert isinstance(head, torch.nn.Linear) and head.in_features == 4
    assert (head(features).argmax(1) == labels).float().mean() > 0.9  # on the RAW features
    assert torch.isfinite(head.weight).all()
