"""Nodes of the ``transfer_map`` pipeline: every (label fraction, strategy) cell through the one
training loop, then one grid as CSV, Markdown and heat maps, and one MLflow child run per cell."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from deepvision.config import to_dict
from deepvision.data.imageset import ImageSet
from deepvision.data.split import labelled_subset
from deepvision.data.transforms import AugmentConfig, build_augment, normalize
from deepvision.engine import evaluate, resolve_device
from deepvision.engine.finetune import FineTuneConfig, strategy_stages, train_strategy
from deepvision.models.registry import create_model
from deepvision.models.stages import stage_names
from deepvision.pipelines.params import parse_augment, parse_fine_tune, parse_transfer_map
from deepvision.pipelines.study.nodes import flatten
from deepvision.pipelines.train.nodes import CURVES
from deepvision.reporting.plots import heatmap_figure
from deepvision.reporting.tables import cheapest_within, to_markdown

TABLE_COLUMNS = ["label_fraction", "strategy", "trainable_stages", "probe_stage",
                 "labelled_images", "steps", "test_accuracy", "train_seconds",
                 "trainable_parameters"]
# Cost order of the recommendation: trainable parameters (reproducible from the params), then
# measured seconds (noisy on a shared machine) only to break ties.
COST = ("trainable_parameters", "train_seconds")


def transfer_grid(train_split: ImageSet, val_split: ImageSet, test_split: ImageSet,
                  transfer_map: dict[str, Any], fine_tune: dict[str, Any], train: dict[str, Any],
                  augment: dict[str, Any]) -> list[dict[str, Any]]:
    """Every cell of the map trained on its labels and scored on the test split."""
    grid, ft, aug = (parse_transfer_map(transfer_map), parse_fine_tune(fine_tune),
                     parse_augment(augment))
    model = create_model("transfer", train_split.num_classes, train_split.channels,
                         backbone=ft.backbone, input_size=ft.input_size, download=ft.download)
    for strategy in grid.strategies:  # a bad strategy fails before any training
        strategy_stages(strategy, len(stage_names(model)))
    fraction = 1.0 if grid.val_images is None else min(1.0, grid.val_images / len(val_split))
    val = labelled_subset(val_split, fraction, ft.seed)
    return [_cell(model, strategy, labelled_subset(train_split, f, ft.seed), f, val, test_split,
                  ft, train, aug, grid.steps)
            for f in grid.label_fractions for strategy in grid.strategies]


def _cell(model: nn.Module, strategy: str, labelled: ImageSet, fraction: float, val: ImageSet,
          test: ImageSet, ft: FineTuneConfig, train: dict[str, Any], aug: AugmentConfig,
          steps: int | None) -> dict[str, Any]:
    variant = "linear_probe" if strategy == "probe" else "fine_tune"
    # The same step budget for every strategy of a fraction: ``steps``, or fine_tune's rule
    # (epochs over the full split, scaled by 1 / fraction); no per-epoch checkpoints in cells
    # this short.
    cfg = replace(replace(ft, label_fraction=fraction).train_config(train, variant),
                  checkpoint_dir=None, run_name=f"transfer_map-{fraction:g}-{strategy}")
    if steps is not None:
        cfg = replace(cfg, epochs=math.ceil(steps / max(1, len(labelled) // cfg.batch_size)))
    mean, std = (0.0,) * labelled.channels, (1.0,) * labelled.channels  # the model adapts inputs
    eval_transform = partial(normalize, mean=mean, std=std)
    result = train_strategy(strategy, model, (labelled.images, labelled.labels),
                            (val.images, val.labels), cfg,
                            build_augment(aug, mean, std, num_classes=labelled.num_classes),
                            eval_transform, ft.backbone_lr_factor)
    scores = evaluate(result.model, test.images, test.labels, cfg, eval_transform,
                      resolve_device(cfg.device))
    return {"label_fraction": fraction, "strategy": strategy,
            "trainable_stages": strategy_stages(strategy, len(stage_names(model))),
            "probe_stage": result.config.get("probe_stage"), "labelled_images": len(labelled),
            "steps": cfg.epochs * max(1, len(labelled) // cfg.batch_size),
            "test_accuracy": scores["accuracy"], "test_loss": scores["loss"],
            "train_seconds": result.train_seconds,
            "trainable_parameters": sum(p.numel() for p in result.model.parameters()
                                        if p.requires_grad),
            "stage_val_accuracy": result.config.get("stage_val_accuracy"),
            "history": result.history, "train": to_dict(cfg)}


def transfer_table(transfer_map_cells: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per cell: accuracy, training seconds and trainable parameters."""
    table = pd.DataFrame(transfer_map_cells, columns=TABLE_COLUMNS)
    return table.astype({"probe_stage": "Int64"})  # a stage number, empty for fine-tuning


def recommend(transfer_map_table: pd.DataFrame, transfer_map: dict[str, Any]) -> list[str]:
    """Per label fraction, one line: the cheapest strategy within ``tolerance`` of the best."""
    tolerance = parse_transfer_map(transfer_map).tolerance
    lines = []
    for fraction, rows in transfer_map_table.groupby("label_fraction", sort=True):
        records = rows.to_dict("records")
        best = max(records, key=lambda r: r["test_accuracy"])
        pick = cheapest_within(records, "test_accuracy", COST, tolerance)
        lines.append(f"{fraction:g} of the labels ({pick['labelled_images']} images): "
                     f"**{pick['strategy']}** — test accuracy {pick['test_accuracy']:.3f} "
                     f"vs best {best['test_accuracy']:.3f} ({best['strategy']}), "
                     f"{pick['trainable_parameters']:,} trainable parameters, "
                     f"{pick['train_seconds']:.1f} s")
    return lines


def transfer_markdown(transfer_map_table: pd.DataFrame, transfer_map_cells: list[dict[str, Any]],
                      transfer_map: dict[str, Any], fine_tune: dict[str, Any]) -> str:
    """The grid as Markdown: the recommendations, the accuracy grid, then every cell."""
    ft, tolerance = parse_fine_tune(fine_tune), parse_transfer_map(transfer_map).tolerance
    accuracy = _grid(transfer_map_table, "test_accuracy")
    grid = [{"label fraction": f"{f:g}", **row} for f, row in accuracy.to_dict("index").items()]
    # Read back from CSV the stage column is float (NaN for fine-tuning cells): whole numbers again.
    table = transfer_map_table.astype({"probe_stage": "Int64"})
    table["label_fraction"] = [f"{f:g}" for f in table["label_fraction"]]
    cells = table.astype(object).where(table.notna(), None)
    return (f"# Transfer map: {ft.backbone} at {ft.input_size or 'native'} px\n\n"
            f"Recommendation (the cheapest strategy within {tolerance:g} test accuracy of the "
            "best):\n\n"
            + "".join(f"- {line}\n" for line in recommend(transfer_map_table, transfer_map))
            + "\n## Test accuracy\n\n" + to_markdown(grid)
            + "\n## Every cell\n\n" + to_markdown(cells.to_dict("records"))
            + _stage_section(transfer_map_cells))


def _stage_section(cells: list[dict[str, Any]]) -> str:
    """The probe's validation accuracy on every stage, per label fraction (empty without probes):
    where the course says "try a linear classifier from different stages", the answer."""
    rows = [{"label fraction": f"{c['label_fraction']:g}",
             **{f"stage {i}": a for i, a in enumerate(c["stage_val_accuracy"], start=1)}}
            for c in cells if c.get("stage_val_accuracy")]
    if not rows:
        return ""
    return "\n## Linear probe by stage (validation accuracy)\n\n" + to_markdown(rows)


def _grid(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """``key`` as label fraction (rows) × strategy (columns, in the configured order)."""
    grid = table.pivot(index="label_fraction", columns="strategy", values=key)
    return grid[list(table["strategy"].unique())]


def transfer_heatmaps(transfer_map_table: pd.DataFrame) -> tuple[Figure, Figure]:
    """Test accuracy and training seconds as label fraction × strategy heat maps."""
    figures = []
    for key, label, fmt in (("test_accuracy", "test accuracy", "{:.3f}"),
                            ("train_seconds", "training seconds", "{:.1f}")):
        grid = _grid(transfer_map_table, key)
        figures.append(heatmap_figure(grid.to_numpy(), [f"{f:g}" for f in grid.index],
                                      list(grid.columns), f"Transfer map: {label}", label, fmt,
                                      x_label="strategy", y_label="label fraction"))
    return figures[0], figures[1]


def transfer_child_runs(transfer_map_cells: list[dict[str, Any]],
                        fine_tune: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One MLflow child run per cell (``<strategy>@<fraction>``): params, metrics, curves."""
    runs = {}
    for cell in transfer_map_cells:
        history = cell["history"]
        curves = {k: [r[k] for r in history] for k in CURVES if history
                  and all(k in r for r in history)}
        params = flatten({"fine_tune": {k: v for k, v in fine_tune.items() if k != "train"},
                          "train": cell["train"], "label_fraction": cell["label_fraction"],
                          "strategy": cell["strategy"]})
        metrics = {k: cell[k] for k in TABLE_COLUMNS[2:] if cell[k] is not None}
        metrics |= {f"stage{i}.val_accuracy": a
                    for i, a in enumerate(cell.get("stage_val_accuracy") or [], start=1)}
        runs[f"{cell['strategy']}@{cell['label_fraction']:g}"] = {
            "params": params, "metrics": metrics | {"test_loss": cell["test_loss"]},
            "curves": curves, "tags": {"strategy": cell["strategy"],
                                       "label_fraction": cell["label_fraction"]}}
    return runs
