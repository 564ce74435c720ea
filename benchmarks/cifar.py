"""``make bench-cifar``: time to accuracy on CIFAR-10, in one run on this machine.

1. the project's fast recipe (``conf/fast_cifar10``: airbench94 in the one loop, bf16 auto, TTA);
2. the airbench94 reference recipe as a bare fp32 CPU script (``benchmarks/airbench_reference.py``);
3. the default ResNet-20 recipe (``conf/base`` train params, crop + flip) with bf16 auto: the
   training seconds until the test accuracy first reaches 90% (tested after every epoch, untimed).

Reads the JPEG (or any ImageFolder) CIFAR-10 tree named by ``CIFAR10_DIR``; without it, says so
and exits 0. Seconds exclude decoding the images (the same for all). The ``--*-epochs`` and
``--train-images`` options make short runs for checking the code, not for the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks import airbench_reference
from deepvision.config import from_dict
from deepvision.data.imageset import ImageSet
from deepvision.data.sources import SourceConfig, load_source
from deepvision.data.split import normalization_stats, stratified_sample
from deepvision.data.transforms import AugmentConfig, build_augment, normalize
from deepvision.engine import TrainConfig, TrainHooks, fit, predict, resolve_device
from deepvision.engine.device import resolve_precision
from deepvision.evaluation import with_tta
from deepvision.models import create_model

OUT = Path("data/08_reporting/bench_cifar.json")
CONF = Path(__file__).resolve().parents[1] / "conf"


def params(env: str, key: str) -> dict[str, Any]:
    """``params:<key>`` of ``conf/base`` with ``conf/<env>`` merged over it, key by key."""
    merged: dict[str, Any] = {}
    for folder in ("base", env):
        for path in sorted((CONF / folder).glob("parameters*.yml")):
            merged.update((yaml.safe_load(path.read_text()) or {}).get(key, {}))
    return merged


def fast_recipe(train: ImageSet, test: ImageSet, epochs: int | None) -> dict[str, Any]:
    """The fast_cifar10 environment's model, loop, augmentation and TTA, timed end to end."""
    cfg = from_dict(TrainConfig, params("fast_cifar10", "train"), "train")
    cfg = cfg if epochs is None else _shorter(cfg, epochs)
    tta = params("fast_cifar10", "evaluate")["tta"]
    model = create_model(params("fast_cifar10", "model")["name"], 10, 3)
    hooks = _hooks(train, params("fast_cifar10", "augment"))
    start = time.perf_counter()
    result = fit(model, (train.images, train.labels), None, cfg, hooks)
    logits = predict(with_tta(result.model, tta), test.images, cfg.eval_batch_size,
                     hooks.eval_transform, resolve_device(cfg.device), cfg.precision)
    seconds = time.perf_counter() - start
    return {"recipe": "fast_cifar10 (project loop)", "epochs": cfg.epochs,
            "precision": result.config["precision"], "tta": tta,
            "accuracy": _accuracy(logits, test), "seconds": round(seconds, 1),
            "train_images_per_s": _median_rate(result.history)}


def reference(train: ImageSet, test: ImageSet, epochs: float | None) -> dict[str, Any]:
    out = airbench_reference.run(train.images, train.labels, test.images, test.labels, epochs)
    return {"recipe": "airbench94 reference (bare, fp32)", "epochs": out["epochs"],
            "precision": "fp32", "tta": "flip_translate", "accuracy": round(out["accuracy"], 4),
            "seconds": round(out["seconds"], 1)}


class _Reached(Exception):
    """Raised from ``on_epoch_end`` to stop the run once the target accuracy is reached."""


def resnet20_time_to(train: ImageSet, test: ImageSet, epochs: int, target: float = 0.90
                     ) -> dict[str, Any]:
    """The default recipe (conf/base train, crop 4 + flip) scheduled over ``epochs``, stopped
    when the test accuracy (measured after every epoch, untimed) first reaches ``target``."""
    cfg = from_dict(TrainConfig, {**params("base", "train"), "checkpoint_dir": None,
                                  "epochs": epochs, "val_every": 1}, "train")
    hooks = _hooks(train, {"crop_padding": 4, "hflip": True})
    history: list[dict[str, float]] = []

    def validate(model: torch.nn.Module) -> dict[str, float]:
        logits = predict(model, test.images, cfg.eval_batch_size, hooks.eval_transform, "cpu",
                         cfg.precision)
        return {"accuracy": _accuracy(logits, test)}

    def on_epoch_end(record: dict[str, float]) -> None:
        history.append(record)
        if record["val_accuracy"] >= target:
            raise _Reached

    with contextlib.suppress(_Reached):
        fit(create_model("resnet20", 10, 3), (train.images, train.labels), None, cfg,
            TrainHooks(hooks.train_transform, hooks.eval_transform, validate=validate,
                       on_epoch_end=on_epoch_end))
    seconds = sum(r["epoch_seconds"] for r in history)
    reached = history[-1]["val_accuracy"] >= target
    return {"recipe": f"resnet20 default (conf/base, crop+flip, {epochs}-epoch schedule)",
            "epochs": len(history), "tta": "none",
            "precision": resolve_precision(cfg.precision, resolve_device(cfg.device)),
            "accuracy": max(r["val_accuracy"] for r in history), "seconds": round(seconds, 1),
            f"seconds_to_{target:.0%}": round(seconds, 1) if reached else None,
            "train_images_per_s": _median_rate(history)}


def _hooks(train: ImageSet, augment: dict[str, Any]) -> TrainHooks:
    mean, std = train.mean, train.std
    policy = build_augment(from_dict(AugmentConfig, augment, "augment"), mean, std, 10)
    return TrainHooks(policy, partial(normalize, mean=mean, std=std))


def _shorter(cfg: TrainConfig, epochs: int) -> TrainConfig:
    return from_dict(TrainConfig, {**_fields(cfg), "epochs": epochs,
                                   "warmup_epochs": min(cfg.warmup_epochs, epochs / 4)}, "train")


def _fields(cfg: TrainConfig) -> dict[str, Any]:
    return {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}


def _accuracy(logits: torch.Tensor, test: ImageSet) -> float:
    return round((logits.argmax(1) == test.labels).float().mean().item(), 4)


def _median_rate(history: list[dict[str, float]]) -> float:
    rates = sorted(r["images_per_second"] for r in history)
    return round(rates[len(rates) // 2])


def load(root: str, train_images: int | None) -> tuple[ImageSet, ImageSet]:
    source = load_source(SourceConfig(source="folder", root=root, workers=2))
    train, test = source.train, source.test
    if train_images is not None:
        train = train.subset(stratified_sample(train.labels, train_images))
    mean, std = normalization_stats(train)
    return train.with_stats(mean, std), test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=["fast", "reference", "resnet20"])
    parser.add_argument("--fast-epochs", type=int, help="default: the recipe's")
    parser.add_argument("--reference-epochs", type=float, help="default: airbench94's 9.9")
    parser.add_argument("--resnet-epochs", type=int, default=40,
                        help="ResNet-20's schedule length; it stops at 90%% (default 40)")
    parser.add_argument("--train-images", type=int, help="stratified subset (short runs only)")
    args = parser.parse_args()
    root = os.environ.get("CIFAR10_DIR")
    if not root:
        print("bench-cifar skipped: set CIFAR10_DIR to a CIFAR-10 folder with train/ and test/ "
              "(e.g. CIFAR10_DIR=data/01_raw/cifar10-jpg make bench-cifar).")
        return
    train, test = load(root, args.train_images)
    runs = {"fast": lambda: fast_recipe(train, test, args.fast_epochs),
            "reference": lambda: reference(train, test, args.reference_epochs),
            "resnet20": lambda: resnet20_time_to(train, test, args.resnet_epochs)}
    rows = {}
    for name in args.only:  # each result as it comes: the whole run takes over an hour here
        rows[name] = runs[name]()
        print(json.dumps(rows[name]), flush=True)
    if "fast" in rows and "reference" in rows:
        rows["fast"]["seconds_vs_reference"] = round(
            rows["fast"]["seconds"] / rows["reference"]["seconds"], 3)
    report = {"machine": {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__},
              "train_images": len(train), "test_images": len(test), "args": vars(args),
              "runs": list(rows.values())}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    json.dump(report["runs"], sys.stdout, indent=2)
    print(f"\nwritten to {OUT}")


if __name__ == "__main__":
    main()
