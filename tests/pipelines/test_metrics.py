"""kedro-mlflow's metric format, written in one place."""

from deepvision.pipelines.metrics import as_curves, as_metrics

HISTORY = [{"epoch": 1, "train_loss": 2.0, "val_loss": 1.5}, {"epoch": 2, "train_loss": 1.0}]


def test_metrics_are_floats_at_step_zero():
    assert as_metrics({"test_accuracy": 1, "n": 3}) == {
        "test_accuracy": {"step": 0, "value": 1.0}, "n": {"step": 0, "value": 3.0}}


def test_curves_are_per_epoch_and_leave_out_keys_no_epoch_has():
    curves = as_curves(HISTORY, ("train_loss", "val_loss", "val_accuracy"))
    assert curves == {"train_loss": [{"step": 1, "value": 2.0}, {"step": 2, "value": 1.0}],
                      "val_loss": [{"step": 1, "value": 1.5}]}
    assert as_curves(HISTORY, ("val_accuracy",), keep_empty=True) == {"val_accuracy": []}
