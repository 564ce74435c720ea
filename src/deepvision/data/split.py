"""Seeded stratified train/val/test split, exact-duplicate (leak) check, normalisation statistics.

The leak check hashes each image's bytes (sha1), so it finds exact copies only, not near-duplicates.
The same hashing serves the duplicate section of the ingest report (``duplicate_report``).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass

import torch
from torch import Tensor

from deepvision.config import ConfigError, check_range
from deepvision.data.imageset import ImageSet

EXAMPLES = 10  # duplicate groups / pairs listed in a report; the counts are always complete


@dataclass(frozen=True)
class SplitConfig:
    """Fractions of each class held out; ``test_fraction`` is ignored when the source has its own
    test set."""

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    dedupe: bool = False  # drop val/test images whose exact copy is in an earlier split
    train_size: int | None = None  # stratified subset of this many training images; None = all

    def __post_init__(self) -> None:
        check_range(self.val_fraction, "split.val_fraction", 0.0, 1.0)
        check_range(self.test_fraction, "split.test_fraction", 0.0, 1.0)
        check_range(self.seed, "split.seed", 0)
        if self.train_size is not None:
            check_range(self.train_size, "split.train_size", 1)
        if self.val_fraction + self.test_fraction >= 1.0:
            total = self.val_fraction + self.test_fraction
            raise ConfigError(f"split.val_fraction + split.test_fraction = {total} leaves no "
                              "training images; their sum must be below 1")


def hash_images(images: Tensor) -> list[str]:
    """sha1 of each image's bytes (N×C×H×W uint8): equal hashes mean identical images."""
    array = images.detach().cpu().contiguous().numpy()
    return [hashlib.sha1(array[i].data).hexdigest() for i in range(array.shape[0])]


def duplicate_report(splits: dict[str, ImageSet | None]) -> dict:
    """Exact duplicates within each split and across splits (later split ↔ earlier split)."""
    return _duplicates({name: hash_images(s.images) for name, s in splits.items() if s is not None})


def stratified_split(data: ImageSet, cfg: SplitConfig, test: ImageSet | None = None
                     ) -> tuple[ImageSet, ImageSet, ImageSet, dict]:
    """Split ``data`` per class into train/val(/test); ``test`` given → only train/val are carved.

    Returns the three splits with the train split's normalisation statistics attached, and a leak
    report. With ``cfg.dedupe`` the val and test images that also occur in an earlier split are
    removed (train is never touched).
    """
    if len(data) == 0:
        raise ValueError("cannot split an empty ImageSet: the source yielded no images")
    test_fraction = 0.0 if test is not None else cfg.test_fraction
    parts = _split_indices(data.labels, data.num_classes, cfg.val_fraction, test_fraction, cfg.seed)
    hashes = hash_images(data.images)
    splits = {name: data.subset(idx) for name, idx in parts.items()}
    named = {name: [hashes[i] for i in idx.tolist()] for name, idx in parts.items()}
    if test is not None:
        splits["test"], named["test"] = test, hash_images(test.images)
    report = _duplicates(named)
    if cfg.dedupe:
        splits, report["removed"] = _dedupe(splits, named)
    if cfg.train_size is not None and cfg.train_size < len(splits["train"]):
        # After val/test are carved, so they stay the same whatever the training budget.
        splits["train"] = labelled_subset(splits["train"], cfg.train_size / len(splits["train"]),
                                          cfg.seed)
    mean, std = normalization_stats(splits["train"])
    train, val, test = (splits[name].with_stats(mean, std) for name in ("train", "val", "test"))
    return train, val, test, report


def normalization_stats(train: ImageSet) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std in [0, 1] units, exact, from a 256-bin histogram."""
    if len(train) == 0:
        raise ValueError("cannot compute normalisation statistics of an empty training split")
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for c in range(train.channels):
        counts = torch.bincount(train.images[:, c].reshape(-1), minlength=256).double()
        mean = (counts * values).sum() / counts.sum()
        var = (counts * (values - mean) ** 2).sum() / counts.sum()
        means.append(float(mean))
        stds.append(float(var.sqrt()))
    return tuple(means), tuple(stds)


def allocate(counts: list[int], val_fraction: float, test_fraction: float
             ) -> tuple[list[int], list[int]]:
    """Per-class val and test sizes (train gets the rest).

    Each split's size is round(N × fraction), and a class's share of it is its quota
    n × split size / N rounded down or up, so class proportions in every split are within one
    image of the source's. Then a class with ≥ 3 images gets at least one image in every split
    with a non-zero fraction, and every class keeps a training image.
    """
    val, test = _round_table(counts, (val_fraction, test_fraction))
    for c, n in enumerate(counts):
        if n >= 3:
            val[c] = max(val[c], int(val_fraction > 0))
            test[c] = max(test[c], int(test_fraction > 0))
        while val[c] + test[c] > max(n - 1, 0):
            if test[c] >= val[c]:
                test[c] -= 1
            else:
                val[c] -= 1
    return val, test


def _round_table(counts: list[int], fractions: tuple[float, float]) -> tuple[list[int], list[int]]:
    """Round the class × (val, test, train) quota table entry-wise, keeping rows summing to n.

    A row whose three rounded-down quotas miss n by k must round k entries up ("ups"); val and
    test hand their round-ups (split size minus the rounded-down sum) to the rows that most need
    one — two ups outstanding first, then the largest remainder — and train takes the rest.
    """
    total = sum(counts)
    if total == 0:
        return [0] * len(counts), [0] * len(counts)
    split_sizes = [math.floor(total * f + 0.5) for f in fractions]
    # Quotas against the rounded split sizes, so column sums are whole and proportions exact.
    quotas = [[n * size / total for size in split_sizes] for n in counts]
    sizes = [[_floor_tolerant(q) for q in row] for row in quotas]
    ups = [n - sum(row) - _floor_tolerant(n - sum(q)) for n, row, q in zip(counts, sizes, quotas,
                                                                   strict=True)]
    for j, split_size in enumerate(split_sizes):
        demand = split_size - sum(row[j] for row in sizes)
        rows = [c for c in range(len(counts)) if ups[c] > 0 and quotas[c][j] > sizes[c][j]]
        rows.sort(key=lambda c: (-ups[c], sizes[c][j] - quotas[c][j], c))
        for c in rows[:max(demand, 0)]:
            sizes[c][j] += 1
            ups[c] -= 1
    return [row[0] for row in sizes], [row[1] for row in sizes]


def _floor_tolerant(x: float) -> int:
    return math.floor(x + 1e-9)  # 6.9999999999 from float products is 7


def _split_indices(labels: Tensor, num_classes: int, val_fraction: float, test_fraction: float,
                   seed: int) -> dict[str, Tensor]:
    """Shuffle each class with one seeded generator and cut it into val | test | train."""
    counts = torch.bincount(labels, minlength=num_classes).tolist()
    n_val, n_test = allocate(counts, val_fraction, test_fraction)
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list[Tensor]] = {"train": [], "val": [], "test": []}
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        v, t = n_val[c], n_test[c]
        parts["val"].append(idx[:v])
        parts["test"].append(idx[v:v + t])
        parts["train"].append(idx[v + t:])
    # Sorted positions keep the source order inside each split (and make splits easy to compare).
    return {name: torch.sort(torch.cat(p)).values if p else torch.zeros(0, dtype=torch.long)
            for name, p in parts.items()}


def _dedupe(splits: dict[str, ImageSet], named: dict[str, list[str]]
           ) -> tuple[dict[str, ImageSet], dict[str, int]]:
    """Drop val images whose content is in train, then test images whose content is in train or
    the kept val images. Copies inside one split are reported but kept."""
    seen = set(named["train"])
    out, removed = dict(splits), {}
    for name in ("val", "test"):
        keep = [i for i, h in enumerate(named[name]) if h not in seen]
        removed[name] = len(named[name]) - len(keep)
        out[name] = splits[name].subset(torch.tensor(keep, dtype=torch.long))
        seen.update(named[name][i] for i in keep)
    return out, removed


def _duplicates(named: dict[str, list[str]]) -> dict:
    """Counts of exact duplicates within and across the named hash lists, with a few examples.

    ``within[split]``: groups of identical images and the redundant copies they hold.
    ``across["val↔train"]``: val images whose content also occurs in train, with (val, train) pairs.
    """
    where = {name: _positions(hashes) for name, hashes in named.items()}
    within = {}
    for name, pos in where.items():
        groups = [p for p in pos.values() if len(p) > 1]
        within[name] = {"groups": len(groups), "redundant": sum(len(g) - 1 for g in groups),
                        "examples": groups[:EXAMPLES]}
    across = {}
    names = list(named)
    for j, later in enumerate(names):
        for earlier in names[:j]:
            pairs = [[i, where[earlier][h][0]] for i, h in enumerate(named[later])
                     if h in where[earlier]]
            across[f"{later}↔{earlier}"] = {"count": len(pairs), "examples": pairs[:EXAMPLES]}
    return {"within": within, "across": across}


def _positions(hashes: list[str]) -> dict[str, list[int]]:
    pos: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        pos[h].append(i)
    return dict(pos)


def stratified_sample(labels: Tensor, n: int, seed: int = 0) -> Tensor:
    """Sorted positions of a seeded sample of about ``n`` of ``labels`` with the class proportions
    kept (every class with at least 3 images keeps one); all positions when ``n`` ≥ their count."""
    labels = labels.cpu().long()
    if n >= len(labels):
        return torch.arange(len(labels))
    num_classes = int(labels.max()) + 1
    return _split_indices(labels, num_classes, n / len(labels), 0.0, seed)["val"]


def labelled_subset(data: ImageSet, fraction: float, seed: int = 0) -> ImageSet:
    """A seeded, stratified ``fraction`` of ``data`` (statistics kept): the labels a user has."""
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return data
    kept = _split_indices(data.labels, data.num_classes, 1 - fraction, 0.0, seed)["train"]
    return data.subset(kept)
