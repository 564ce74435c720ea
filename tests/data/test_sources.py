"""Sources on tiny inputs built in tmp_path: an image folder with every awkward kind of file, and a
fake torchvision root in the real on-disk (idx) format."""

from __future__ import annotations

import io
import json
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deepvision.config import ConfigError, from_dict
from deepvision.data import sources
from deepvision.data.sources import SourceConfig, load_source

RNG = np.random.default_rng(0)


def _rgb(size: int = 8) -> Image.Image:
    return Image.fromarray(RNG.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _gray(size: int = 8) -> Image.Image:
    return Image.fromarray(RNG.integers(0, 256, (size, size), dtype=np.uint8))


def _jpeg_bytes(im: Image.Image) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG")
    return buffer.getvalue()


def _folder_cfg(root: Path, **kw) -> SourceConfig:
    return SourceConfig(source="folder", root=str(root), **kw)


@pytest.fixture
def messy_folder(tmp_path: Path) -> Path:
    """cat: 2 PNG, 1 JPEG, RGBA, palette, corrupt, truncated, text, hidden;
    dog: 2 JPEG, 1 PNG, 16-bit grayscale."""
    cat, dog = tmp_path / "cat", tmp_path / "dog"
    cat.mkdir()
    dog.mkdir()
    _rgb().save(cat / "a.png")
    _rgb().save(cat / "b.PNG")
    _rgb().save(cat / "c.jpg")
    rgba = np.full((8, 8, 4), 40, np.uint8)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # one fully transparent pixel
    Image.fromarray(rgba, "RGBA").save(cat / "rgba.png")
    _rgb().convert("P").save(cat / "palette.png")
    (cat / "corrupt.png").write_bytes(RNG.integers(0, 256, 300, dtype=np.uint8).tobytes())
    (cat / "truncated.jpg").write_bytes(_jpeg_bytes(_rgb())[:-100])
    (cat / "notes.txt").write_text("not an image")
    (cat / ".DS_Store").write_bytes(b"\0")
    _rgb().save(dog / "d.jpg")
    _rgb().save(dog / "e.jpeg")
    _rgb().save(dog / "f.png")
    deep = np.zeros((8, 8), np.uint16)
    deep[0, 0], deep[0, 1] = 65535, 128 * 257
    Image.fromarray(deep).save(dog / "deep16.png")
    return tmp_path


# --- digits ---------------------------------------------------------------------------------------

def test_digits_are_uint8_scaled_to_full_range():
    result = load_source(SourceConfig())
    train = result.train
    assert train.images.shape == (1797, 1, 8, 8) and train.images.dtype == torch.uint8
    assert train.class_names == tuple(str(d) for d in range(10))
    assert result.test is None
    levels = {int(v * 255 / 16 + 0.5) for v in range(17)}
    assert set(torch.unique(train.images).tolist()) <= levels
    assert int(train.images.max()) == 255
    assert result.report["image_sizes"] == {"8x8": 1797}
    json.dumps(result.report)


# --- image folders --------------------------------------------------------------------------------

def test_folder_keeps_good_images_and_reports_the_bad(messy_folder: Path):
    result = load_source(_folder_cfg(messy_folder))
    train, report = result.train, result.report
    assert result.test is None
    assert train.images.shape == (9, 3, 8, 8)
    assert train.class_names == ("cat", "dog")
    assert train.class_counts() == {"cat": 5, "dog": 4}
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    assert reasons["cat/notes.txt"] == "not an image extension"
    assert reasons["cat/corrupt.png"].startswith("not a readable image")
    assert reasons["cat/truncated.jpg"].startswith("truncated")
    assert report["hidden_ignored"] == 1
    assert report["modes"]["RGBA"] == 1 and report["modes"]["P"] == 1
    assert report["modes"]["I;16"] == 1
    assert report["image_sizes"] == {"8x8": 9} and report["channels"] == 3
    json.dumps(report)


def test_folder_composites_alpha_on_white_and_scales_16_bit(messy_folder: Path):
    train = load_source(_folder_cfg(messy_folder)).train
    files = sorted(p.name for p in (messy_folder / "cat").iterdir())
    good_cat = [f for f in files if f in {"a.png", "b.PNG", "c.jpg", "palette.png", "rgba.png"}]
    rgba = train.images[good_cat.index("rgba.png")]
    assert rgba[:, 0, 0].tolist() == [255, 255, 255]  # transparent → white
    assert rgba[:, 1, 1].tolist() == [40, 40, 40]  # opaque → unchanged
    dog = sorted(p.name for p in (messy_folder / "dog").iterdir())
    deep = train.images[5 + dog.index("deep16.png")]
    assert deep[:, 0, 0].tolist() == [255] * 3  # 65535 → 255, gray replicated to RGB
    assert deep[:, 0, 1].tolist() == [128] * 3


def test_all_grayscale_like_folder_gives_one_channel(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        _gray().save(tmp_path / name / "g.png")
        Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(tmp_path / name / "deep.png")
        _gray().convert("1").save(tmp_path / name / "bits.png")
    train = load_source(_folder_cfg(tmp_path)).train
    assert train.images.shape == (6, 1, 8, 8)
    assert int(train.images.max()) == 255


def test_process_pool_gives_the_same_result(messy_folder: Path, monkeypatch: pytest.MonkeyPatch):
    in_process = load_source(_folder_cfg(messy_folder, workers=1))
    monkeypatch.setattr(sources, "_POOL_MIN_FILES", 0)
    pooled = load_source(_folder_cfg(messy_folder, workers=2))
    assert torch.equal(in_process.train.images, pooled.train.images)
    assert in_process.report["skipped"] == pooled.report["skipped"]


def test_mixed_sizes_stop_with_a_histogram_then_resize(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        _rgb(8).save(tmp_path / name / "small.png")
    _rgb(16).save(tmp_path / "a" / "big.png")
    with pytest.raises(ValueError, match=r"8x8: 2, 16x16: 1.*ingest\.image_size"):
        load_source(_folder_cfg(tmp_path))
    result = load_source(_folder_cfg(tmp_path, image_size=12))
    assert result.train.images.shape == (3, 3, 12, 12)
    assert result.report["image_sizes"] == {"16x16": 1, "8x8": 2}


def test_decompression_bombs_are_refused(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        _rgb(8).save(tmp_path / name / "ok.png")  # 64 pixels, under the limit
    _rgb(10).save(tmp_path / "a" / "warning_level.png")  # 100 > 70: PIL only warns
    _rgb(16).save(tmp_path / "b" / "error_level.png")  # 256 > 2 × 70: PIL raises
    previous = Image.MAX_IMAGE_PIXELS
    result = load_source(_folder_cfg(tmp_path, max_image_pixels=70))
    assert previous == Image.MAX_IMAGE_PIXELS  # the limit does not leak into this process
    reasons = {s["path"]: s["reason"] for s in result.report["skipped"]}
    bomb = "decompression bomb: {} pixels over the limit"
    assert reasons["a/warning_level.png"].startswith(bomb.format("10×10"))
    assert reasons["b/error_level.png"].startswith(bomb.format("16×16"))
    assert len(result.train) == 2


def test_pre_split_folder_and_duplicate_report(tmp_path: Path):
    image = _rgb()
    for split in ("train", "test"):
        for name in ("a", "b"):
            (tmp_path / split / name).mkdir(parents=True)
            _rgb().save(tmp_path / split / name / "x.png")
    image.save(tmp_path / "train" / "a" / "dup1.png")
    image.save(tmp_path / "train" / "a" / "dup2.png")
    image.save(tmp_path / "test" / "b" / "leak.png")
    result = load_source(_folder_cfg(tmp_path))
    assert len(result.train) == 4 and len(result.test) == 3
    assert result.test.class_names == ("a", "b")
    duplicates = result.report["duplicates"]
    assert duplicates["within"]["train"]["groups"] == 1
    assert duplicates["within"]["train"]["redundant"] == 1
    assert duplicates["across"]["test↔train"]["count"] == 1
    assert duplicates["within"]["train"]["examples"] == [["train/a/dup1.png", "train/a/dup2.png"]]
    leak = duplicates["across"]["test↔train"]["examples"]
    assert leak == [["test/b/leak.png", "train/a/dup1.png"]]
    assert result.report["splits"]["test"] == {"a": 1, "b": 2}


def test_test_class_missing_from_train_is_an_error(tmp_path: Path):
    for split, names in (("train", ("a", "b")), ("test", ("a", "c"))):
        for name in names:
            (tmp_path / split / name).mkdir(parents=True)
            _rgb().save(tmp_path / split / name / "x.png")
    with pytest.raises(ValueError, match=r"test classes \['c'\].*add training images"):
        load_source(_folder_cfg(tmp_path))


def test_empty_class_folder_is_an_error(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _rgb().save(tmp_path / "a" / "x.png")
    (tmp_path / "b" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"class folder .*b holds no images.*remove the folder"):
        load_source(_folder_cfg(tmp_path))


def test_single_class_is_an_error(tmp_path: Path):
    (tmp_path / "only").mkdir()
    _rgb().save(tmp_path / "only" / "x.png")
    with pytest.raises(ValueError, match=r"at least two class folders.*only 'only'"):
        load_source(_folder_cfg(tmp_path))


def test_no_readable_image_is_an_error(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"no readable images.*a/broken.png: not a readable image"):
        load_source(_folder_cfg(tmp_path))


def test_class_whose_images_are_all_refused_is_an_error(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    _rgb().save(tmp_path / "a" / "x.png")
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"every image of class 'b' \(train\).*was refused"):
        load_source(_folder_cfg(tmp_path))


def test_missing_folder_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"does not exist; set ingest.root"):
        load_source(_folder_cfg(tmp_path / "nowhere"))


# --- torchvision ----------------------------------------------------------------------------------

def _write_idx(path: Path, array: np.ndarray) -> None:
    """The MNIST idx format: magic (0, 0, type 8 = uint8, ndim), big-endian sizes, raw bytes."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fake_mnist(root: Path, name: str = "MNIST") -> dict[str, np.ndarray]:
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for prefix, n in (("train", 20), ("t10k", 10)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[prefix] = images
    return arrays


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the network was touched")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.mark.parametrize("name", ["MNIST", "FashionMNIST"])
def test_torchvision_reads_idx_files(tmp_path: Path, name: str, no_network: None):
    arrays = _fake_mnist(tmp_path, name)
    result = load_source(SourceConfig(source="torchvision", name=name, root=str(tmp_path)))
    assert result.train.images.shape == (20, 1, 28, 28)
    assert result.test.images.shape == (10, 1, 28, 28)
    assert torch.equal(result.train.images[:, 0], torch.from_numpy(arrays["train"]))
    assert result.train.labels.tolist() == [i % 10 for i in range(20)]
    assert len(result.train.class_names) == 10
    assert result.report["splits"]["test"][result.test.class_names[0]] == 1


def test_torchvision_missing_files_say_where_and_what_to_do(tmp_path: Path, no_network: None):
    with pytest.raises(FileNotFoundError) as error:
        load_source(SourceConfig(source="torchvision", name="MNIST", root=str(tmp_path)))
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte") in message
    assert "ingest.download: true" in message and "place the dataset's files there" in message
    assert error.value.__suppress_context__  # one message, no chained traceback


def test_torchvision_failed_download_gives_one_clear_error(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    cfg = SourceConfig(source="torchvision", name="MNIST", root=str(tmp_path), download=True)
    with pytest.raises(FileNotFoundError, match=r"(?s)could not load MNIST.*place the dataset"):
        load_source(cfg)


def test_torchvision_cifar_missing_files_are_listed(tmp_path: Path, no_network: None):
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py.data_batch_1"):
        load_source(SourceConfig(source="torchvision", name="CIFAR10", root=str(tmp_path)))


def test_torchvision_corrupt_files_give_the_same_kind_of_error(tmp_path: Path, no_network: None):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for f in sources.expected_files("CIFAR10", tmp_path):
        f.write_bytes(b"")  # present but failing torchvision's checksum
    expected = r"(?s)could not load CIFAR10.*ingest.download: true"
    with pytest.raises(FileNotFoundError, match=expected):
        load_source(SourceConfig(source="torchvision", name="CIFAR10", root=str(tmp_path)))


# --- configuration --------------------------------------------------------------------------------

def test_config_names_the_bad_key_and_the_choices():
    with pytest.raises(ConfigError, match=r"ingest.source='images'.*digits, torchvision, folder"):
        SourceConfig(source="images")
    with pytest.raises(ConfigError, match=r"ingest.name='ImageNet'.*CIFAR10"):
        SourceConfig(source="torchvision", name="ImageNet")
    with pytest.raises(ConfigError, match=r"ingest.image_size"):
        SourceConfig(image_size=0)
    with pytest.raises(ConfigError, match=r"ingest.worker.*did you mean 'workers'"):
        from_dict(SourceConfig, {"worker": 2}, "ingest")
