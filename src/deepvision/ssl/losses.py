"""Self-supervised losses over two views of the same images.

Written here rather than taken from ``lightly`` (1.6.0, evaluated 2026-12-02): it installs
cleanly against torch 2.14.1 (``pip install --dry-run lightly`` pulls no other torch) but brings
pytorch-lightning, hydra-core, omegaconf and torchmetrics — a second training framework — for the
~25 lines below; its memory bank and cross-rank gathering are not needed on one node.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.2) -> Tensor:
    """SimCLR's normalised-temperature cross-entropy (Chen et al. 2020, eq. 1), mean over all 2N
    anchors: row i of ``z1`` and row i of ``z2`` are a positive pair, every other row of either
    view a negative."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = len(z1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))  # an anchor is not its own negative
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, positives)


def byol_loss(online: Tensor, target: Tensor) -> Tensor:
    """BYOL's regression loss (Grill et al. 2020, eq. 2): 2 − 2·cos(prediction, target
    projection), mean over the batch; ``target`` carries no gradient."""
    return (2 - 2 * F.cosine_similarity(online.float(), target.detach().float(), dim=1)).mean()
