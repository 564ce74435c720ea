"""Wiring of the ``fine_tune`` pipeline: labels → three variants → one comparison (and, with
``mode: stage_probe``, the accuracy of every stage)."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.fine_tune.nodes import (
    compare_variants,
    select_labels,
    stage_probe_report,
    train_fine_tuned,
    train_linear_probe,
    train_scratch,
)

VARIANTS = {"scratch": train_scratch, "linear_probe": train_linear_probe,
            "fine_tune": train_fine_tuned}
PARAMS = ["params:fine_tune", "params:train", "params:augment", "params:model"]


def create_pipeline(**kwargs) -> Pipeline:
    trains = [Node(fn, inputs=["labelled_train_split", "val_split", *PARAMS],
                   outputs=[f"fine_tune_{v}_model", f"fine_tune_{v}_history"], name=fn.__name__)
              for v, fn in VARIANTS.items()]
    outputs = [f"fine_tune_{v}_{kind}" for v in VARIANTS for kind in ("model", "history")]
    return Pipeline([
        Node(select_labels, inputs=["train_split", "params:fine_tune"],
             outputs="labelled_train_split", name="select_labels"),
        *trains,
        Node(compare_variants,
             inputs=["test_split", "labelled_train_split", "params:train", *outputs],
             outputs=["fine_tune_comparison", "fine_tune_metrics", "fine_tune_curves"],
             name="compare_variants"),
        Node(stage_probe_report, inputs="fine_tune_fine_tune_history",
             outputs=["fine_tune_stage_probes", "fine_tune_stage_plot"],
             name="stage_probe_report"),
    ], tags=["fine_tune"])
