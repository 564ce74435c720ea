"""The ``export`` pipeline on an in-memory catalog: ONNX bytes that ONNX Runtime runs, and the
parity report on the test split."""

import onnxruntime as ort
import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from deepvision.config import ConfigError
from deepvision.io import OnnxModelDataset
from deepvision.pipelines.export import create_pipeline
from deepvision.pipelines.params import PARSERS
from tests.synthetic import tiny_model, tiny_splits


def test_export_writes_onnx_and_checks_parity_on_the_test_split(tmp_path):
    train, _, test = tiny_splits()
    # As in the catalog, a file (an intermediate MemoryDataset would be released).
    catalog = DataCatalog({"onnx_model": OnnxModelDataset(filepath=str(tmp_path / "m.onnx"))})
    for name, value in {"trained_model": tiny_model(train), "test_split": test,
                        "params:export": {"parity_images": 5}}.items():
        catalog[name] = value
    outputs = SequentialRunner().run(create_pipeline(), catalog)

    parity = outputs["onnx_parity"].load()
    assert parity["images"] == 5 and parity["label_agreement"] == 1.0
    assert parity["max_abs_logit_diff"] <= 1e-4 and parity["input_shape"] == [1, 8, 8]
    session = ort.InferenceSession(catalog.load("onnx_model"))
    assert session.run(None, {"images": test.images[:7].numpy()})[0].shape == (7, 3)


def test_export_parameters_are_checked_up_front():
    with pytest.raises(ConfigError, match="export.tolerance"):
        PARSERS["export"]({"tolerance": -1})
