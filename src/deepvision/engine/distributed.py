"""Data-parallel training with ``torch.distributed``: NCCL on GPUs, gloo on CPUs.

Two ways in, one loop: ``train.devices: N`` makes ``fit`` spawn N local worker processes (rank 0
returns the result to the caller), and a process launched by ``torchrun`` (``WORLD_SIZE`` set) joins
the group itself. Every rank draws the same seeded permutation each epoch and takes its own slice of
each global batch (a ``DistributedSampler`` without the sampler), gradients are averaged by
``DistributedDataParallel``, and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


SINGLE = DistContext()


def context() -> DistContext:
    """This process's place in the group; joins the group first when launched by ``torchrun``."""
    if not dist.is_available():
        return DistContext()
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if not dist.is_initialized():
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size(),
                       int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def device_for(ctx: DistContext, device: torch.device) -> torch.device:
    """One GPU per rank; CPU ranks share the CPU."""
    if device.type == "cuda" and ctx.active:
        torch.cuda.set_device(ctx.local_rank)
        return torch.device("cuda", ctx.local_rank)
    return device


def all_reduce_sum(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.active:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def same_on_all_ranks(t: torch.Tensor, ctx: DistContext) -> bool:
    """Whether ``t`` is identical on every rank (its elementwise max and min across ranks agree)."""
    if not ctx.active:
        return True
    high, low = t.clone(), t.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return torch.equal(high, low)


def average_norm_statistics(model: torch.nn.Module, ctx: DistContext) -> None:
    """Average batch-norm running statistics over the ranks. DDP broadcasts rank 0's buffers at
    the start of each forward, so after the last step each rank holds statistics of its own
    slice: averaged, every rank validates and keeps the same model (timm's ``distribute_bn``)."""
    if ctx.active:
        from timm.utils import distribute_bn

        distribute_bn(model, ctx.world_size, reduce=True)


def spawn(fn: Callable[..., dict[str, Any] | None], nprocs: int, *args: Any,
          on_message: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Run ``fn(*args, send)`` in ``nprocs`` local ranks; returns what rank 0's ``fn`` returned
    (tensors and plain data, passed back through a file loaded weights-only).

    Rank 0's ``fn`` gets a ``send`` that hands a message (plain data) to ``on_message`` in this
    process as it arrives (other ranks get None), so per-epoch callbacks stay with the caller; if
    ``on_message`` raises, the ranks are stopped and the error propagates."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rank0.pt"
        queue = mp.get_context("spawn").SimpleQueue() if on_message is not None else None
        ranks = mp.start_processes(_worker, args=(nprocs, _free_port(), str(out), queue, fn, args),
                                   nprocs=nprocs, start_method="spawn", join=False)
        try:
            while not ranks.join(timeout=0.2):
                _deliver(queue, on_message)
            _deliver(queue, on_message)
        except BaseException:
            for process in ranks.processes:
                if process.is_alive():
                    process.terminate()
            raise
        return torch.load(out, map_location="cpu", weights_only=True)


def _deliver(queue: Any, on_message: Callable[[Any], None] | None) -> None:
    while queue is not None and not queue.empty():
        on_message(queue.get())


def _worker(rank: int, world_size: int, port: int, out: str, queue: Any, fn: Callable,
            args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    # The CPU's threads are shared between the ranks.
    torch.set_num_threads(max(1, torch.get_num_threads() // world_size))
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", rank=rank,
                            world_size=world_size)
    try:
        result = fn(*args, queue.put if rank == 0 and queue is not None else None)
        if rank == 0:
            torch.save(result, out)
        # No rank tears the group down while another is still in it: a rank leaving early was seen
        # to abort ("terminate called without an active exception", 2 of ~40 gloo runs here).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
