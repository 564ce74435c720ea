"""The ``evaluate`` pipeline on an in-memory catalog, and its parameter check."""

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset
from matplotlib.figure import Figure

from deepvision.config import ConfigError
from deepvision.pipelines.evaluate import create_pipeline
from deepvision.pipelines.params import PARSERS
from tests.synthetic import CLASSES, tiny_model, tiny_params, tiny_splits

QUALITY = {"test_accuracy", "test_loss", "top1_accuracy", "top5_accuracy", "macro_precision",
           "macro_recall", "macro_f1", "ece"}
COST = {"latency_ms_batch1", "throughput_images_per_s", "throughput_batch_size", "parameters",
        "macs", "size_mb", "checkpoint_mb", "inference_bf16", "onnx_latency_ms_batch1",
        "onnx_throughput_images_per_s"}
SCORE = {"challenge_score", "p_s", "p_u", "q_w", "q_a", "w", "f", "weight_term", "mac_term"}


def test_evaluate_pipeline_runs_on_an_in_memory_catalog(tmp_path):
    train, _, test = tiny_splits()
    params = tiny_params()
    # test_metrics as in the catalog (a JSON file): an intermediate MemoryDataset is released.
    catalog = DataCatalog({"trained_model": MemoryDataset(copy_mode="assign"),
                           "test_metrics": JSONDataset(filepath=str(tmp_path / "metrics.json"))})
    catalog["trained_model"] = model = tiny_model(train).train()
    for name, value in {"test_split": test, "params:train": params["train"],
                        "params:evaluate": params["evaluate"]}.items():
        catalog[name] = value
    outputs = SequentialRunner().run(create_pipeline(), catalog)

    metrics = catalog.load("test_metrics")
    assert set(metrics) == QUALITY | COST | SCORE | {"test_images"}
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["test_images"] == len(test)
    assert metrics["throughput_batch_size"] == 8 and metrics["checkpoint_mb"] > 0
    assert outputs["test_metrics_mlflow"].load()["test_accuracy"] == {
        "step": 0, "value": metrics["test_accuracy"]}

    per_class = outputs["per_class_metrics"].load()
    assert list(per_class.columns) == ["class", "precision", "recall", "f1", "support"]
    assert list(per_class["class"]) == list(CLASSES) and per_class["support"].sum() == len(test)
    confusion = outputs["confusion_matrix_csv"].load()
    assert isinstance(confusion, pd.DataFrame) and confusion.shape == (3, 3)
    assert list(confusion.index) == list(confusion.columns) == list(CLASSES)
    assert confusion.to_numpy().sum() == len(test)
    for name in ("confusion_matrix_plot", "reliability_plot", "confident_errors_plot"):
        assert isinstance(outputs[name].load(), Figure)
    assert model.training  # evaluated on a copy: the caller's model keeps its mode


def test_evaluate_parameters_are_checked_before_the_run():
    with pytest.raises(ConfigError, match=r"evaluate\.calibration_bin"):
        PARSERS["evaluate"]({"calibration_bin": 10})
    with pytest.raises(ConfigError, match=r"evaluate\.repeats"):
        PARSERS["evaluate"]({"repeats": 0})
