from PIL import Image

from deepvision.pipelines.ingest import create_pipeline
from deepvision.pipelines.ingest.nodes import ingest_images
from tests.pipelines.runner import run


def test_ingest_digits_gives_uint8_images_and_an_empty_test_set():
    out = run(create_pipeline(), {"params:ingest": {"source": "digits"}})
    raw, test = out["raw_images"], out["raw_test_images"]
    assert raw.images.shape == (1797, 1, 8, 8) and raw.class_names == tuple("0123456789")
    assert len(test) == 0 and test.class_names == raw.class_names
    assert out["ingest_report"]["source"] == "digits"


def test_ingest_folder_keeps_its_official_test_split(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (6, 6), (i * 40, 0, 0)).save(folder / f"{i}.png")
    train, test, report = ingest_images({"source": "folder", "root": str(tmp_path),
                                         "workers": 1})
    assert (len(train), len(test)) == (6, 4)
    assert train.class_names == test.class_names == ("cat", "dog")
    assert report["skipped"] == []
