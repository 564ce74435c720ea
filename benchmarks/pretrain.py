"""What self-supervised pretraining buys: on digits with 10% of the training labels, a linear probe
on the pretrained backbone against a linear probe on a randomly initialised backbone of the same
architecture (the seed that initialised it), mean and spread over seeds.

Both backbones go through the product's path: a model bundle, ``create_model("transfer",
backbone="checkpoint:…")`` and ``engine.finetune.linear_probe`` with the fine_tune defaults of
``conf/base``. The pretraining uses ``conf/base/parameters_pretrain.yml`` as shipped.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
import yaml
from torch import nn

from deepvision.config import from_dict
from deepvision.data.imageset import ImageSet
from deepvision.data.sources import SourceConfig, load_source
from deepvision.data.split import SplitConfig, labelled_subset, stratified_split
from deepvision.data.transforms import build_augment, normalize
from deepvision.engine import evaluate
from deepvision.engine.finetune import FineTuneConfig, linear_probe
from deepvision.models import create_model
from deepvision.models.bundle import save_checkpoint_bundle
from deepvision.ssl import PretrainConfig, pretrain

CONF = Path(__file__).parents[1] / "conf/base"
CPU = {"device": "cpu", "checkpoint_dir": None, "progress": "off", "threads": 2}


def _params(name: str) -> dict:
    return yaml.safe_load((CONF / f"parameters_{name}.yml").read_text())[name]


def probe_accuracy(backbone: nn.Module, labelled: ImageSet, val: ImageSet, test: ImageSet,
                   folder: Path) -> float:
    """Test accuracy of a linear probe on ``backbone`` (saved as a bundle, loaded as fine_tune
    loads a ``checkpoint:`` backbone)."""
    path = folder / f"backbone-{time.monotonic_ns()}.pt"
    save_checkpoint_bundle(backbone, path, {"mean": list(labelled.mean),
                                            "std": list(labelled.std)})
    model = create_model("transfer", labelled.num_classes, labelled.channels,
                         backbone=f"checkpoint:{path}", input_size=None)
    ft = from_dict(FineTuneConfig, {**_params("fine_tune"), "label_fraction": 0.1}, "fine_tune")
    cfg = ft.train_config({**_params("train"), **CPU}, "linear_probe")
    to_unit = partial(normalize, mean=(0.0,) * labelled.channels, std=(1.0,) * labelled.channels)
    result = linear_probe(model, (labelled.images, labelled.labels), (val.images, val.labels),
                          cfg, to_unit)
    return evaluate(result.model, test.images, test.labels, cfg, to_unit)["accuracy"]


def compare(seeds: tuple[int, ...] = (0, 1, 2), label_fraction: float = 0.1,
            model: str = "resnet20") -> dict:
    train, val, test, _ = stratified_split(load_source(SourceConfig()).train, SplitConfig())
    cfg = from_dict(PretrainConfig, _params("pretrain"), "pretrain")
    views = build_augment(cfg.augment_config(_params("augment")), train.mean, train.std)
    scratch, pretrained, seconds = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            torch.manual_seed(seed)
            net = create_model(model, train.num_classes, train.channels)
            train_cfg = cfg.train_config({**_params("train"), **CPU, "seed": seed})
            start = time.perf_counter()
            backbone, _ = pretrain(net, (train.images, train.labels), (val.images, val.labels),
                                   cfg, train_cfg, views,
                                   partial(normalize, mean=train.mean, std=train.std))
            seconds.append(time.perf_counter() - start)
            labelled = labelled_subset(train, label_fraction, seed)
            scratch.append(probe_accuracy(net, labelled, val, test, Path(tmp)))
            pretrained.append(probe_accuracy(backbone, labelled, val, test, Path(tmp)))
    gain = [100 * (p - s) for p, s in zip(pretrained, scratch, strict=True)]
    return {"what": f"digits, {label_fraction:.0%} labels ({len(labelled)} images), {model}, "
                    f"{cfg.method} {train_cfg.epochs} epochs, linear probe, seeds {list(seeds)}",
            "random_init_probe_pct": _mean_spread(scratch),
            "pretrained_probe_pct": _mean_spread(pretrained),
            "gain_points": f"{statistics.mean(gain):.1f} (min {min(gain):.1f})",
            "pretrain_seconds_each": round(statistics.mean(seconds), 1),
            "target_gain_points": 10}


def _mean_spread(values: list[float]) -> str:
    pct = [100 * v for v in values]
    return f"{statistics.mean(pct):.1f} ± {statistics.stdev(pct):.1f}"
