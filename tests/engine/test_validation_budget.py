"""Validation budget: validate every ``val_every`` epochs (``auto`` keeps it near 10% of the run),
optionally on a capped stratified subset; best epoch and early stopping only use validated
epochs."""

from dataclasses import replace

import pytest
import torch

from deepvision.config import ConfigError
from deepvision.engine import TrainConfig, fit, loop
from deepvision.engine.finetune import FineTuneConfig
from tests.engine.conftest import TinyNet


def test_val_every_validates_those_epochs_and_the_last(net, data, cfg):
    result = fit(net, data, data, replace(cfg, epochs=5, val_every=2))
    validated = [r["epoch"] for r in result.history if "val_accuracy" in r]
    assert validated == [2, 4, 5]
    assert len(result.history) == 5  # every epoch still has its training record
    assert result.best_epoch in validated


@pytest.mark.parametrize(("n_train", "n_val", "expected"), [
    (1000, 300, 1), (1000, 301, 2), (900, 7500, 28), (100, 0, 1)])
def test_auto_interval_keeps_validation_images_under_a_third_of_training(n_train, n_val,
                                                                          expected):
    assert TrainConfig().validation_interval(n_train, n_val) == expected
    assert TrainConfig(val_every=3).validation_interval(n_train, n_val) == 3


def test_auto_validates_a_small_training_set_rarely(net, data, cfg):
    x, y = data  # 96 images: 16 train against 96 val is 20 epochs apart with auto
    result = fit(net, (x[:16], y[:16]), (x, y), replace(cfg, epochs=4, batch_size=8,
                                                               val_every="auto"))
    assert [r["epoch"] for r in result.history if "val_accuracy" in r] == [4]


def test_val_max_images_validates_on_a_stratified_subset(monkeypatch, net, data, cfg):
    seen = []
    real = loop.evaluate

    def spy(model, x, y, *args, **kwargs):
        seen.append(torch.bincount(y.cpu(), minlength=3).tolist())
        return real(model, x, y, *args, **kwargs)

    monkeypatch.setattr(loop, "evaluate", spy)
    fit(net, data, data, replace(cfg, epochs=1, val_max_images=30))
    assert seen == [[10, 10, 10]]  # 96 images of 3 balanced classes, capped at 30


def test_early_stopping_is_judged_at_validated_epochs_only(data, cfg):
    x, y = data
    # Nothing improves after the first validation (epoch 3); patience 2 would stop at epoch 5,
    # but epoch 5 is not validated, so training stops after the next validation, epoch 6.
    cfg = replace(cfg, epochs=20, patience=2, schedule="constant", lr=1e-12, val_every=3)
    result = fit(TinyNet(norm=False), (x, y), (x, y), cfg)
    assert len(result.history) == 6
    assert result.best_epoch == 3


@pytest.mark.parametrize("bad", [0, 1.5, "sometimes", True])
def test_a_bad_val_every_is_refused_with_its_name(bad):
    with pytest.raises(ConfigError, match="train.val_every"):
        TrainConfig(val_every=bad)


def test_fine_tune_scales_a_whole_val_every_with_the_label_fraction():
    ft = FineTuneConfig(label_fraction=0.02, train={"epochs": 3, "val_every": 1})
    cfg = ft.train_config({}, "fine_tune")
    assert (cfg.epochs, cfg.val_every) == (150, 50)
    assert FineTuneConfig(label_fraction=0.02).train_config({}, "scratch").val_every == "auto"
