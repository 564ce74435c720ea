"""Wiring of the ``transfer_map`` pipeline: the prepared splits → the grid → table, Markdown,
heat maps and MLflow child runs."""

from kedro.pipeline import Node, Pipeline

from deepvision.pipelines.transfer_map.nodes import (
    transfer_child_runs,
    transfer_grid,
    transfer_heatmaps,
    transfer_markdown,
    transfer_table,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(transfer_grid, inputs=["train_split", "val_split", "test_split",
                                    "params:transfer_map", "params:fine_tune", "params:train",
                                    "params:augment"],
             outputs="transfer_map_cells", name="transfer_grid"),
        Node(transfer_table, inputs="transfer_map_cells", outputs="transfer_map_table",
             name="transfer_table"),
        Node(transfer_markdown,
             inputs=["transfer_map_table", "transfer_map_cells", "params:transfer_map",
                     "params:fine_tune"],
             outputs="transfer_map_md", name="transfer_markdown"),
        Node(transfer_heatmaps, inputs="transfer_map_table",
             outputs=["transfer_map_accuracy_plot", "transfer_map_seconds_plot"],
             name="transfer_heatmaps"),
        Node(transfer_child_runs, inputs=["transfer_map_cells", "params:fine_tune"],
             outputs="transfer_map_child_runs", name="transfer_child_runs"),
    ], tags=["transfer_map"])
