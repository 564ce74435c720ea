"""Nodes of the ``evaluate`` pipeline on hand-made logits."""

import pytest
import torch

from deepvision.data import ImageSet
from deepvision.evaluation import evaluate_predictions
from deepvision.io import ModelDataset
from deepvision.models.bundle import bundle_size_mb
from deepvision.pipelines.evaluate.nodes import (
    combine_metrics,
    confident_errors_plot,
    confusion_plot,
    confusion_table,
    evaluate_test,
    measure_cost,
    per_class_table,
    predict_test,
    reliability_plot,
)
from tests.synthetic import CLASSES, tiny_model, tiny_params, tiny_splits

# 6 images: classes a, a, b, b, c, c; "c" is never predicted.
LOGITS = torch.tensor([[4.0, 0, 0], [3, 1, 0], [0, 4, 0], [2, 1, 0], [0, 3, 1], [1, 0, 0.5]])
LABELS = torch.tensor([0, 0, 1, 1, 2, 2])


@pytest.fixture
def evaluation():
    return evaluate_predictions(LOGITS, LABELS, CLASSES, n_bins=5, n_errors=4)


def test_confusion_and_per_class_tables_name_the_classes(evaluation):
    table = confusion_table(evaluation)
    assert table.index.name == "true \\ predicted"
    assert list(table.index) == list(table.columns) == list(CLASSES)
    assert table.loc["b"].tolist() == [1, 1, 0] and table.loc["c"].tolist() == [1, 1, 0]
    per_class = per_class_table(evaluation).set_index("class")
    assert per_class.loc["c", "precision"] == 0 and per_class.loc["c", "recall"] == 0
    assert per_class.loc["a", "recall"] == 1 and per_class.loc["a", "precision"] == 0.5


def test_figures_carry_titles_and_captions(evaluation):
    _, _, test = tiny_splits()
    assert confusion_plot(evaluation).axes[0].get_title().startswith("Test confusion matrix")
    assert reliability_plot(evaluation).axes[0].get_title().startswith("Test reliability")
    split = ImageSet(test.images[:6], LABELS, CLASSES, test.mean, test.std)
    errors = confident_errors_plot(evaluation, split)
    assert errors.get_suptitle() == (
        "Most confident test errors, true → predicted (confidence): 3 of 3")
    assert [ax.get_title() for ax in errors.axes if ax.get_title()] == [
        "c → b (0.84)", "b → a (0.67)", "c → a (0.51)"]


def test_evaluate_test_refuses_a_model_of_other_classes():
    train, _, test = tiny_splits()
    model = tiny_model(train)
    model.meta = {**model.meta, "class_names": ["x", "y", "z"]}
    with pytest.raises(ValueError, match="trained on classes"):
        evaluate_test(torch.zeros(len(test), 3), test, model, tiny_params()["evaluate"])


def test_predict_and_cost_leave_the_model_alone_and_report_every_number():
    train, _, test = tiny_splits()
    model = tiny_model(train).train()
    params = tiny_params()
    logits = predict_test(model, test, params["train"], params["evaluate"])
    assert logits.shape == (len(test), 3) and model.training
    cost = measure_cost(model, test, params["train"], params["evaluate"])
    assert cost["throughput_batch_size"] == 8 and model.training
    assert all(cost[k] > 0 for k in ("latency_ms_batch1", "parameters", "macs", "checkpoint_mb"))
    metrics = combine_metrics(evaluate_predictions(logits, test.labels, CLASSES), cost, test)
    assert metrics["test_images"] == len(test) and metrics["macs"] == cost["macs"]
    assert metrics["w"] == cost["parameters"] and metrics["q_w"] == 32 and metrics["p_u"] == 0
    assert metrics["challenge_score"] == pytest.approx(
        cost["parameters"] / 5.6e6 + cost["macs"] / 2.8e8)


def test_checkpoint_size_is_the_size_of_the_saved_bundle(tmp_path):
    train, _, _ = tiny_splits()
    model = tiny_model(train)
    dataset = ModelDataset(filepath=str(tmp_path / "model.pt"))
    dataset.save(model)
    assert bundle_size_mb(model) == pytest.approx((tmp_path / "model.pt").stat().st_size / 2**20,
                                                  rel=0.01)
