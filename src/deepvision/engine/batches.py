"""Where ``fit`` takes its training batches from: a *batch source*. ``ResidentBatches`` indexes a
split held whole on the training device (fast, for data that fits); ``data.shards.ShardBatches``
streams it from disk through DataLoader workers (for data that does not). The loop is the same."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor


class BatchSource(Protocol):
    def __len__(self) -> int: ...

    def steps(self, batch_size: int, world_size: int) -> int:
        """Batches per epoch and rank (the same on every rank)."""
        ...

    def batches(self, generator: torch.Generator, batch_size: int, rank: int,
                world_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """This rank's uint8 image batches and labels for one epoch, in an order drawn from
        ``generator`` (seeded alike on every rank). Draws at once, not when iterated: the loop
        re-seeds the generator per rank for augmentation right after."""
        ...


@dataclass(frozen=True)
class ResidentBatches:
    """The whole split on the device: each epoch a seeded permutation; under DDP every rank draws
    the same one and takes its slice of each global batch."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.images)

    def steps(self, batch_size: int, world_size: int) -> int:
        return max(1, len(self.images) // (batch_size * world_size))

    def batches(self, generator: torch.Generator, batch_size: int, rank: int,
                world_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.randperm(len(self.images), generator=generator, device=generator.device)
        order = order.to(self.images.device)
        starts = [step * batch_size * world_size + rank * batch_size
                  for step in range(self.steps(batch_size, world_size))]
        return ((self.images[order[s:s + batch_size]], self.labels[order[s:s + batch_size]])
                for s in starts)

