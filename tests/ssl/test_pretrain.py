from functools import partial

import pytest
import torch

from deepvision.config import ConfigError, from_dict
from deepvision.data.transforms import AugmentConfig, build_augment, normalize
from deepvision.models import create_model
from deepvision.ssl import PretrainConfig, pretrain
from tests.synthetic import tiny_params, tiny_splits


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_pretrain_runs_through_the_one_loop_with_the_knn_monitor(method):
    train, val, _ = tiny_splits()
    cfg = PretrainConfig(method=method, projection_dim=8, hidden_dim=16, knn_k=3,
                         train={})  # the tiny base budget, not the 40-epoch default
    train_cfg = cfg.train_config({**tiny_params()["train"], "monitor": "val_knn_accuracy"})
    torch.manual_seed(0)
    net = create_model("lenet5", train.num_classes, train.channels)
    backbone, result = pretrain(
        net, (train.images, train.labels), (val.images, val.labels), cfg, train_cfg,
        build_augment(AugmentConfig(crop_padding=1), train.mean, train.std),
        partial(normalize, mean=train.mean, std=train.std))
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert all(0 <= r["val_knn_accuracy"] <= 1 and "train_accuracy" not in r
               for r in result.history)
    assert type(backbone) is type(net) and backbone.spec == net.spec
    assert not torch.equal(next(backbone.parameters()), next(net.parameters()))


def test_bad_pretrain_parameters_fail_naming_the_key():
    with pytest.raises(ConfigError, match=r"pretrain\.train.*epoch"):
        from_dict(PretrainConfig, {"train": {"epoch": 3}}, "pretrain")
    with pytest.raises(ConfigError, match="mixup"):
        from_dict(PretrainConfig, {"augment": {"mixup_alpha": 0.2}}, "pretrain")
    with pytest.raises(ConfigError, match="hflip_mode=alternate"):
        from_dict(PretrainConfig, {"augment": {"hflip": True, "hflip_mode": "alternate"}},
                  "pretrain")
    with pytest.raises(ConfigError, match=r"pretrain\.method"):
        from_dict(PretrainConfig, {"method": "dino"}, "pretrain")
