import torch
from matplotlib.figure import Figure

from deepvision.data.imageset import ImageSet
from deepvision.pipelines.prepare import create_pipeline
from tests.pipelines.runner import run


def _raw(n=90):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    return ImageSet(images, torch.arange(n) % 3, ("a", "b", "c"))


def test_prepare_splits_with_train_statistics_and_previews_augmentation():
    raw = _raw()
    out = run(create_pipeline(), {"raw_images": raw, "raw_test_images": raw.empty(),
                                  "params:split": {"val_fraction": 0.2, "test_fraction": 0.2},
                                  "params:augment": {"crop_padding": 1}})
    train, val, test = out["train_split"], out["val_split"], out["test_split"]
    assert len(train) + len(val) + len(test) == len(raw)
    assert train.mean == val.mean == test.mean is not None
    expected = (train.images.float() / 255).mean().item()
    assert abs(train.mean[0] - expected) < 1e-6
    assert isinstance(out["augmentation_preview"], Figure)
    # Random 8×8 images never collide: the leak check finds nothing across splits.
    assert all(v["count"] == 0 for v in out["split_report"]["across"].values())


def test_prepare_keeps_an_official_test_split():
    raw, official = _raw(), _raw(12)
    out = run(create_pipeline(), {"raw_images": raw, "raw_test_images": official,
                                  "params:split": {}, "params:augment": {}})
    assert torch.equal(out["test_split"].images, official.images)
