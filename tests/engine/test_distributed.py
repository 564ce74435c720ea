"""Data-parallel plumbing: a single process is a group of one; spawned gloo ranks reduce together
and rank 0's result and messages come back to the caller."""

import torch

from deepvision.engine import distributed as dist


def test_without_torchrun_the_process_is_a_group_of_one(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = dist.context()
    assert ctx == dist.SINGLE and ctx.is_main and not ctx.active
    t = torch.tensor([1.0, 2.0])
    assert dist.all_reduce_sum(t, ctx) is t
    assert dist.device_for(ctx, torch.device("cpu")) == torch.device("cpu")


def _sum_of_ranks(send):
    ctx = dist.context()
    total = dist.all_reduce_sum(torch.tensor([float(ctx.rank + 1)]), ctx)
    if send is not None:
        send({"rank": ctx.rank, "world_size": ctx.world_size})
    return {"total": total, "rank": ctx.rank}


def test_two_spawned_ranks_reduce_and_rank_zero_reports_back():
    messages = []
    result = dist.spawn(_sum_of_ranks, 2, on_message=messages.append)
    assert result["rank"] == 0 and float(result["total"]) == 3.0  # 1 + 2
    assert messages == [{"rank": 0, "world_size": 2}]
