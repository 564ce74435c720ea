"""The standard self-supervised monitor: weighted k-nearest-neighbour classification of
validation features against a labelled bank of training features (Wu et al. 2018, as in DINO)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def knn_accuracy(bank: Tensor, bank_labels: Tensor, query: Tensor, query_labels: Tensor,
                 k: int = 20, temperature: float = 0.07, chunk: int = 1024) -> float:
    """Top-1 accuracy of ``query`` features voted by their ``k`` most cosine-similar ``bank``
    features, each vote weighted by exp(similarity / temperature)."""
    bank = F.normalize(bank.float(), dim=1)
    query = F.normalize(query.float(), dim=1)
    num_classes = int(max(bank_labels.max(), query_labels.max())) + 1
    k = min(k, len(bank))
    correct = 0
    for start in range(0, len(query), chunk):
        sim, idx = (query[start:start + chunk] @ bank.T).topk(k, dim=1)
        votes = torch.zeros(len(sim), num_classes, device=sim.device)
        votes.scatter_add_(1, bank_labels[idx], (sim / temperature).exp())
        correct += int((votes.argmax(1) == query_labels[start:start + chunk]).sum())
    return correct / max(1, len(query))
