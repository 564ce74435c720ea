"""Stratified split, leak check and normalisation statistics on small synthetic ImageSets."""

from __future__ import annotations

import pytest
import torch

from deepvision.config import ConfigError
from deepvision.data.imageset import ImageSet
from deepvision.data.split import (
    SplitConfig,
    allocate,
    hash_images,
    normalization_stats,
    stratified_split,
)

COUNTS = [50, 30, 17, 5, 3]  # imbalanced on purpose


def _dataset(counts: list[int] = COUNTS, seed: int = 0) -> ImageSet:
    """Distinct random 3×4×4 images (with overwhelming probability), labels in class blocks."""
    g = torch.Generator().manual_seed(seed)
    n = sum(counts)
    images = torch.randint(0, 256, (n, 3, 4, 4), dtype=torch.uint8, generator=g)
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return ImageSet(images, labels, tuple(f"c{i}" for i in range(len(counts))))


def _index_of(part: ImageSet, whole: ImageSet) -> set[str]:
    return set(hash_images(part.images)) & set(hash_images(whole.images))


def test_class_proportions_are_within_one_sample():
    # Classes of 3–6 images are bent by the at-least-one-per-split rule (tested below).
    counts = [50, 30, 17, 11, 7]
    data = _dataset(counts)
    train, val, test, _ = stratified_split(data, SplitConfig(val_fraction=0.2, test_fraction=0.1))
    assert len(train) + len(val) + len(test) == len(data)
    shares = [n / len(data) for n in counts]
    for split in (train, val, test):
        counts = torch.bincount(split.labels, minlength=len(shares)).tolist()
        for count, share in zip(counts, shares, strict=True):
            assert abs(count - share * len(split)) <= 1 + 1e-9


def test_every_class_with_three_images_reaches_every_split():
    train, val, test, _ = stratified_split(_dataset([40, 3, 3]), SplitConfig(0.1, 0.1))
    for split in (train, val, test):
        assert torch.bincount(split.labels, minlength=3).min() >= 1


def test_allocate_keeps_a_training_image():
    assert allocate([3], 0.15, 0.15) == ([1], [1])
    assert allocate([2], 0.4, 0.4) == ([1], [0])
    assert allocate([1, 0], 0.5, 0.4) == ([0, 0], [0, 0])
    val, test = allocate([33, 33, 34], 0.15, 0.15)
    assert sum(val) == 15 and sum(test) == 15


def test_same_seed_same_split_different_seed_different_split():
    data = _dataset()
    first = stratified_split(data, SplitConfig(seed=1))
    again = stratified_split(data, SplitConfig(seed=1))
    other = stratified_split(data, SplitConfig(seed=2))
    for a, b in zip(first[:3], again[:3], strict=True):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(first[1].images, other[1].images)


def test_splits_are_disjoint_and_carry_train_statistics():
    data = _dataset()
    train, val, test, _ = stratified_split(data, SplitConfig())
    assert not _index_of(val, train) and not _index_of(test, train) and not _index_of(test, val)
    assert train.mean == val.mean == test.mean == normalization_stats(train)[0]
    assert train.std == val.std == test.std is not None


def test_source_test_set_is_kept_and_only_val_is_carved():
    data, own_test = _dataset(), _dataset([4, 4, 4, 4, 4], seed=9)
    train, val, test, _ = stratified_split(data, SplitConfig(val_fraction=0.2), own_test)
    assert len(train) + len(val) == len(data)
    assert torch.equal(test.images, own_test.images) and test.mean == train.mean


def _with_leaks() -> ImageSet:
    """A class of 20 images of which 8 are one image copied, so copies land in several splits."""
    data = _dataset([20, 20])
    images = data.images.clone()
    images[:8] = images[0]
    return ImageSet(images, data.labels, data.class_names)


def test_leak_check_counts_duplicates_across_splits():
    data = _with_leaks()
    *splits, report = stratified_split(data, SplitConfig(0.25, 0.25, seed=3))
    copy = hash_images(data.images[:1])[0]
    n = {name: hash_images(s.images).count(copy)
         for name, s in zip(("train", "val", "test"), splits, strict=True)}
    assert n["train"] and n["val"] + n["test"]  # the seed spreads the copies over splits
    for name, count in n.items():
        assert report["within"][name]["redundant"] == max(count - 1, 0)
    across = {pair: r["count"] for pair, r in report["across"].items()}
    assert across == {"val↔train": n["val"], "test↔train": n["test"],
                      "test↔val": n["test"] if n["val"] else 0}
    for pair in report["across"].values():
        assert all(len(example) == 2 for example in pair["examples"])


def test_dedupe_removes_leaks_from_val_and_test_only():
    data = _with_leaks()
    plain = stratified_split(data, SplitConfig(0.25, 0.25, seed=3))
    train, val, test, report = stratified_split(data, SplitConfig(0.25, 0.25, seed=3, dedupe=True))
    assert torch.equal(train.images, plain[0].images)  # train is never touched
    assert not _index_of(val, train) and not _index_of(test, train) and not _index_of(test, val)
    assert report["removed"]["val"] == report["across"]["val↔train"]["count"]
    assert report["removed"]["val"] + report["removed"]["test"] >= 1
    assert len(val) == len(plain[1]) - report["removed"]["val"]


def test_dedupe_removes_source_test_images_seen_in_train():
    data = _dataset()
    own_test = data.subset(torch.tensor([0, 1, 60]))  # copies of source images
    _, _, test, report = stratified_split(data, SplitConfig(seed=0, dedupe=True), own_test)
    assert len(test) == 3 - report["removed"]["test"]
    assert report["removed"]["test"] >= 1


def test_normalization_stats_match_a_direct_computation():
    data = _dataset()
    mean, std = normalization_stats(data)
    x = data.images.double() / 255
    assert torch.allclose(torch.tensor(mean), x.mean((0, 2, 3)).float(), atol=1e-6)
    assert torch.allclose(torch.tensor(std), x.std((0, 2, 3), unbiased=False).float(), atol=1e-6)


def test_split_config_rejects_no_room_for_training():
    with pytest.raises(ConfigError, match=r"split.val_fraction \+ split.test_fraction"):
        SplitConfig(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConfigError, match=r"split.val_fraction"):
        SplitConfig(val_fraction=-0.1)


def test_train_size_keeps_a_stratified_training_subset_and_the_same_val_and_test():
    labels = torch.arange(200) % 4
    data = ImageSet(torch.randint(0, 255, (200, 1, 4, 4), dtype=torch.uint8), labels,
                     ("a", "b", "c", "d"))
    full = stratified_split(data, SplitConfig(val_fraction=0.2, test_fraction=0.2))
    small = stratified_split(data, SplitConfig(val_fraction=0.2, test_fraction=0.2, train_size=40))
    assert len(small[0]) == 40 and len(full[0]) == 120
    assert torch.bincount(small[0].labels).tolist() == [10, 10, 10, 10]
    assert torch.equal(small[1].images, full[1].images)
    assert torch.equal(small[2].images, full[2].images)
