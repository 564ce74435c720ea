"""Each backbone's own stage list, the partition around it, pooled stage features and the cut."""

import pytest
import torch

from deepvision.engine.loop import predict
from deepvision.models import create_model
from deepvision.models.bundle import bundle_to_dict, model_from_bundle
from deepvision.models.stages import StageTaps, stage_groups, stage_names, truncate


def widths(model, x):
    taps = StageTaps(model)
    features = predict(taps, x, 8, lambda v: v, "cpu", channels_last=False)
    assert features.shape == (len(x), sum(taps.widths))
    return taps.widths


@pytest.mark.parametrize(("name", "kwargs", "channels", "expected"), [
    ("transfer", {"backbone": "bundled:efficientnet_lite0", "input_size": 32}, 3,
     [16, 24, 40, 112, 1280]),
    ("resnet20", {}, 1, [16, 32, 64]),
    ("tv:resnet18", {}, 3, [64, 128, 256, 512]),  # random init: no download
])
def test_stage_features_have_the_documented_widths(name, kwargs, channels, expected):
    torch.manual_seed(0)
    model = create_model(name, 10, channels, **kwargs)
    assert widths(model, torch.rand(3, channels, 32, 32)) == expected


def test_the_last_stage_is_what_the_classifier_sees():
    torch.manual_seed(0)
    model = create_model("resnet20", 4, 1).eval()
    x = torch.rand(2, 1, 16, 16)
    taps = StageTaps(model, [2])
    assert torch.allclose(taps(x), model.forward_features(x))


@pytest.mark.parametrize("name", ["resnet20", "tv:resnet18", "preact_resnet18", "vgg11_bn",
                                  "densenet_cifar"])
def test_stages_partition_every_parameter_but_the_head_once(name):
    model = create_model(name, 10, 3)
    groups = stage_groups(model)
    assert len(groups) == len(stage_names(model))
    owned = [p for group in groups for unit in group
             for p, _ in model.get_submodule(unit).named_parameters(prefix=unit)]
    assert len(owned) == len(set(owned))
    assert set(owned) == {n for n, _ in model.named_parameters() if not n.startswith("fc.")}


def test_a_cut_model_gives_its_stage_features_and_rebuilds_from_its_bundle():
    torch.manual_seed(0)
    full = create_model("transfer", 3, 3, backbone="bundled:efficientnet_lite0", input_size=32)
    cut = create_model("transfer", 3, 3, backbone="bundled:efficientnet_lite0", input_size=32,
                       stages=2)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = StageTaps(full.eval(), [1])(x)
        assert cut.head.in_features == 24
        assert torch.allclose(cut.eval().features(x), expected, atol=1e-5)
        rebuilt, _ = model_from_bundle(bundle_to_dict(cut))
        assert torch.equal(rebuilt.eval()(x), cut(x))


@pytest.mark.parametrize(("name", "keep"), [("vgg11_bn", 2), ("resnet20", 1), ("densenet_cifar", 3),
                                            ("tv:resnet18", 3)])
def test_a_cut_after_stage_k_feeds_the_classifier_stage_k(name, keep):
    torch.manual_seed(0)
    model = create_model(name, 10, 3).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = StageTaps(model, [keep - 1])(x)
        cut = truncate(create_model(name, 10, 3), keep)
        cut.load_state_dict(model.state_dict(), strict=False)  # the cut has a subset of keys
        cut.fc = torch.nn.Identity()  # the classifier's input, whatever its width
        assert torch.allclose(cut.eval()(x), expected, atol=1e-5)


def test_a_model_without_stages_is_refused_by_name():
    with pytest.raises(ValueError, match="declares no stages.*stage_names"):
        stage_names(create_model("lenet5", 10, 1))
    with pytest.raises(ValueError, match="cannot keep 4 stages of ResNet: it has 3"):
        truncate(create_model("resnet20", 10, 1), 4)
