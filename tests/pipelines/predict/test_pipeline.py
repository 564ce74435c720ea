"""The ``predict`` pipeline on an in-memory catalog: a folder of generated images plus corrupt
ones, labelled by the model a bundle file names; its parameter check."""

import json

import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from deepvision.config import ConfigError
from deepvision.models.bundle import save_checkpoint_bundle
from deepvision.pipelines.params import PARSERS
from deepvision.pipelines.predict import create_pipeline
from deepvision.pipelines.predict.nodes import COLUMNS
from tests.serving.images import BAD, write_images
from tests.synthetic import tiny_model, tiny_splits


def test_predict_labels_a_folder_and_reports_the_files_it_skipped(tmp_path):
    write_images(tmp_path / "images", n=7)
    model = tiny_model(tiny_splits()[0])
    save_checkpoint_bundle(model, tmp_path / "model.pt", model.meta)
    params = {"input": str(tmp_path / "images"), "model": str(tmp_path / "model.pt"),
              "max_image_pixels": 4096, "chunk_size": 3, "top_k": 2, "progress": "none",
              "device": "cpu"}
    catalog = DataCatalog()
    catalog["params:predict"] = params
    outputs = SequentialRunner().run(create_pipeline(), catalog)

    table, report = outputs["predictions"].load(), outputs["predict_report"].load()
    assert list(table.columns) == COLUMNS and len(table) == 7
    assert set(table["label"]) <= set(model.meta["class_names"])
    tops = [json.loads(t) for t in table["top_labels"]]
    assert all(len(t) == 2 and t[0] == label for t, label in zip(tops, table["label"],
                                                                  strict=True))
    assert report["files"] == 10 and report["labelled"] == 7
    assert {s["path"] for s in report["skipped"]} == set(BAD)
    json.dumps(report)  # the catalog writes it as JSON


def test_predict_parameters_are_checked_up_front():
    assert PARSERS["predict"]({"input": "x"}).top_k == 3
    with pytest.raises(ConfigError, match="predict.top_k"):
        PARSERS["predict"]({"top_k": 0})
    with pytest.raises(ConfigError, match="predict.progress"):
        PARSERS["predict"]({"progress": "loud"})
