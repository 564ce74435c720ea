"""Batch prediction on files, bytes and arrays: same answers as the eager model on the training
preprocessing, files refused as ingest refuses them, streaming in chunks, clear errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deepvision.data.transforms import normalize
from deepvision.models import create_model
from deepvision.models.bundle import save_checkpoint_bundle
from deepvision.serving import (
    Predictor,
    Preprocessing,
    image_files,
    label_files,
    load_model,
    preprocessing_meta,
)
from tests.serving.images import BAD, write_images
from tests.synthetic import tiny_model, tiny_splits


def _expected(model, images: torch.Tensor) -> torch.Tensor:
    meta = model.meta
    with torch.no_grad():
        return torch.softmax(model.eval()(normalize(images, meta["mean"], meta["std"])), 1)


def test_a_folder_is_labelled_like_the_eager_model_and_bad_files_are_reported(tmp_path: Path):
    images = write_images(tmp_path)
    model = tiny_model(tiny_splits()[0])
    root, files, skipped = image_files(tmp_path)
    predictor = Predictor(model, top_k=2)
    chunks = list(label_files(predictor, root, files, chunk_size=4, max_pixels=4096))
    rows = [r for c in chunks for r in c.rows]
    skipped += [s for c in chunks for s in c.skipped]

    assert len(chunks) == 3  # 9 good + 3 bad image files in chunks of 4
    assert [r["file"] for r in rows][:2] == ["img000.png", "img002.png"]
    probs = _expected(model, images)
    assert [r["label"] for r in rows] == [model.meta["class_names"][i] for i in probs.argmax(1)]
    np.testing.assert_allclose([r["probability"] for r in rows], probs.max(1).values, atol=1e-5)
    assert all(len(r["top_labels"]) == 2 and r["top_labels"][0] == r["label"] for r in rows)
    reasons = {s["path"]: s["reason"] for s in skipped}
    assert set(reasons) == set(BAD)
    for name, words in BAD.items():
        assert words in reasons[name], (name, reasons[name])


def test_a_grey_28px_model_labels_a_300x200_colour_jpeg_through_its_own_preprocessing(
        tmp_path: Path):
    torch.manual_seed(0)
    model = create_model("lenet5", 3, 1)
    model.meta = preprocessing_meta(("a", "b", "c"), (28, 28), (0.4,), (0.3,))
    rgb = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    rgb[:100, :150] = (250, 40, 40)  # a red top-left quadrant
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=95)

    root, files, _ = image_files(tmp_path / "photo.jpg")
    [chunk] = label_files(Predictor(model, top_k=3), root, files)
    # The same conversion written out by hand: decode, bilinear to 28×28, ITU-R 601 luma.
    by_hand = Image.open(tmp_path / "photo.jpg").convert("RGB").resize((28, 28),
                                                                       Image.Resampling.BILINEAR)
    grey = torch.from_numpy(np.asarray(by_hand.convert("L")).copy())[None, None]
    probs = _expected(model, grey)[0]
    assert chunk.rows[0]["file"] == "photo.jpg"
    assert chunk.rows[0]["label"] == "abc"[int(probs.argmax())]
    np.testing.assert_allclose(sorted(chunk.rows[0]["top_probabilities"], reverse=True),
                               probs.sort(descending=True).values, atol=1e-5)
    assert chunk.notes == Counter({"resized 300x200 → 28x28 (bilinear, aspect ratio not kept)": 1,
                                   "colour converted to grey (ITU-R 601-2 luma)": 1})


def test_bytes_and_arrays_give_the_answers_files_give(tmp_path: Path):
    images = write_images(tmp_path, n=3, bad=False)
    predictor = Predictor(tiny_model(tiny_splits()[0]))
    blobs = [p.read_bytes() for p in image_files(tmp_path)[1]]
    from_bytes = predictor.label_encoded([*blobs, b"not an image"])
    from_arrays = predictor.label_arrays([im[0].numpy() for im in images])
    from_files = [r for c in label_files(predictor, *image_files(tmp_path)[:2]) for r in c.rows]
    assert from_bytes[:3] == from_arrays == [{k: v for k, v in r.items() if k != "file"}
                                              for r in from_files]
    assert "not a readable image" in from_bytes[3]["error"]


def test_a_grey_image_is_repeated_for_a_colour_model():
    pre = Preprocessing(("a", "b"), 3, (4, 4), (0.5,) * 3, (0.2,) * 3)
    notes: Counter[str] = Counter()
    out = pre.prepare(np.arange(16, dtype=np.uint8).reshape(4, 4), notes)
    assert out.shape == (3, 4, 4) and torch.equal(out[0], out[2])
    assert notes == Counter({"grey repeated on 3 channels": 1})


def test_bad_inputs_fail_with_one_line_naming_the_fix(tmp_path: Path):
    with pytest.raises(ValueError, match="set predict.input"):
        image_files("")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        image_files(tmp_path / "empty")
    model = create_model("lenet5", 3, 1)
    model.meta = {"class_names": ["a", "b", "c"]}
    with pytest.raises(ValueError, match="no image_size, mean, std in its meta.*retrain"):
        Predictor(model)
    model = create_model("lenet5", 3, 3)  # a colour architecture with grey statistics
    model.meta = preprocessing_meta("abc", (8, 8), (0.5,), (0.2,))
    with pytest.raises(ValueError, match="takes 3 channel.*1 mean"):
        Predictor(model)


def test_load_model_reads_a_bundle_file_and_names_unknown_schemes(tmp_path: Path):
    model = tiny_model(tiny_splits()[0])
    save_checkpoint_bundle(model, tmp_path / "m.pt", model.meta)
    loaded = load_model(str(tmp_path / "m.pt"))
    assert loaded.meta == model.meta
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                 model.state_dict().values(), strict=True))
    with pytest.raises(ValueError, match="no model source for 'nosuch:x'"):
        load_model("nosuch:x")
