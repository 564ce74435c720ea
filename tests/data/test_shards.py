"""Shards on disk and the streaming batch source: what is written is read back, every epoch reads
each row at most once, ranks read disjoint shards, and ``fit`` trains from them."""

import numpy as np
import pytest
import torch

from deepvision.data.imageset import ImageSet
from deepvision.data.shards import (
    MemoryShards,
    ShardBatches,
    ShardSet,
    ShardWriter,
    write_shards,
)
from deepvision.engine import TrainConfig, fit
from tests.synthetic import CLASSES, quadrant_images, tiny_model, tiny_splits


def _split(n: int = 60) -> ImageSet:
    images, labels = quadrant_images(n)
    return ImageSet(images, labels, CLASSES, (0.5,), (0.25,))


def _epoch(source, seed: int, batch_size: int = 8, rank: int = 0, world_size: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return list(source.batches(gen, batch_size, rank, world_size))


def test_shards_read_back_what_was_written(tmp_path):
    split = _split()
    shards = write_shards(split, tmp_path / "s", shard_size=16)
    assert shards.counts == (16, 16, 16, 12) and len(shards) == 60
    assert (shards.num_classes, shards.image_size, shards.mean) == (3, (8, 8), (0.5,))
    back = ShardSet.open(tmp_path / "s").to_imageset()
    assert torch.equal(back.images, split.images) and torch.equal(back.labels, split.labels)
    rows = np.array([0, 1, 2, 7, 9, 10])
    images, labels = shards.read(1, rows)
    assert np.array_equal(images, split.images[16 + rows].numpy())
    assert np.array_equal(labels, split.labels[16 + rows].numpy())
    picked = torch.tensor([40, 3, 17, 16, 59])
    assert torch.equal(shards.subset(picked).images, split.images[picked])
    assert shards.model_meta()["image_size"] == [8, 8]


def test_writer_fills_shards_across_batches_and_refuses_to_overwrite(tmp_path):
    split = _split(23)
    with ShardWriter(tmp_path / "s", CLASSES, shard_size=7) as writer:
        for start in range(0, 23, 5):
            writer.add(split.images[start:start + 5], split.labels[start:start + 5])
    assert ShardSet.open(tmp_path / "s").counts == (7, 7, 7, 2)
    with pytest.raises(FileExistsError, match="already holds shards"):
        ShardWriter(tmp_path / "s", CLASSES)


def test_an_epoch_reads_each_row_at_most_once_in_a_seeded_order(tmp_path):
    split = _split()
    source = ShardBatches(write_shards(split, tmp_path / "s", shard_size=16), workers=0)
    batches = _epoch(source, seed=1)
    assert len(batches) == source.steps(8, 1) == 7
    images = torch.cat([x for x, _ in batches])
    flat = {bytes(row.numpy()) for row in split.images}
    assert len({bytes(row.numpy()) for row in images}) == len(images) == 56
    assert {bytes(row.numpy()) for row in images} <= flat
    again = _epoch(source, seed=1)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again, strict=True))
    assert not torch.equal(batches[0][0], _epoch(source, seed=2)[0][0])


def test_ranks_read_disjoint_shards_and_as_many_batches(tmp_path):
    split = _split()
    ids = torch.arange(60)  # labels that name the row, to see which shard a batch came from
    source = ShardBatches(MemoryShards(ImageSet(split.images, ids, CLASSES), shard_size=10),
                          workers=0)
    ranks = [_epoch(source, seed=3, batch_size=4, rank=r, world_size=2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == source.steps(4, 2) == 7
    shard_of = [{int(i) // 10 for _, y in batches for i in y} for batches in ranks]
    assert not shard_of[0] & shard_of[1]


def test_memory_and_disk_shards_give_the_same_batches(tmp_path):
    split = _split()
    disk = ShardBatches(write_shards(split, tmp_path / "s", shard_size=16), workers=0)
    memory = ShardBatches(MemoryShards(split, shard_size=16), workers=0)
    for (a, b), (c, d) in zip(_epoch(disk, 5), _epoch(memory, 5), strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)


def test_fit_trains_from_shards_read_by_a_worker_process(tmp_path):
    train, val, _ = tiny_splits()
    shards = write_shards(train, tmp_path / "s", shard_size=12)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=0.05, device="cpu", threads=1, progress="off",
                      val_every=1)
    result = fit(tiny_model(train), ShardBatches(shards, workers=1), (val.images, val.labels), cfg)
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert all(np.isfinite(r["train_loss"]) and "val_accuracy" in r for r in result.history)


def test_too_few_shards_for_the_ranks_is_named(tmp_path):
    source = ShardBatches(write_shards(_split(), tmp_path / "s", shard_size=60), workers=0)
    with pytest.raises(ValueError, match="1 shards for 2 ranks"):
        source.steps(8, 2)


def test_two_local_ranks_stream_their_shares_and_end_alike(tmp_path):
    train, val, _ = tiny_splits()
    cfg = TrainConfig(epochs=1, batch_size=4, lr=0.05, device="cpu", threads=1, progress="off",
                      devices=2)
    source = ShardBatches(MemoryShards(train, shard_size=6), workers=0)
    result = fit(tiny_model(train), source, (val.images, val.labels), cfg)  # raises if not alike
    assert [r["epoch"] for r in result.history] == [1]
