import math

import pytest
import torch

from deepvision.ssl import byol_loss, nt_xent


def test_nt_xent_matches_a_hand_computation():
    # Views e1, e2 | e1, e2 at temperature 1: each anchor sees its positive at cosine 1 and two
    # negatives at cosine 0, so every one of the 4 terms is -log(e / (e + 2)).
    z = torch.eye(2)
    assert nt_xent(z, z.clone(), temperature=1.0).item() == pytest.approx(
        math.log((math.e + 2) / math.e), rel=1e-6)


def test_nt_xent_matches_the_papers_formula_term_by_term():
    g = torch.Generator().manual_seed(0)
    z1, z2, t = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g), 0.5
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)
    n, terms = 3, []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        sims = [float(z[i] @ z[k]) / t for k in range(2 * n) if k != i]
        terms.append(-(float(z[i] @ z[j]) / t) + math.log(sum(math.exp(s) for s in sims)))
    assert nt_xent(z1, z2, t).item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def test_nt_xent_is_lower_when_the_views_agree():
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(8, 16, generator=g)
    assert nt_xent(z1, z1 + 0.01) < nt_xent(z1, torch.randn(8, 16, generator=g))


def test_byol_loss_is_two_minus_twice_the_cosine_and_stops_the_target_gradient():
    online = torch.tensor([[1.0, 0.0], [1.0, 1.0]], requires_grad=True)
    target = torch.tensor([[0.0, 3.0], [2.0, 2.0]], requires_grad=True)
    loss = byol_loss(online, target)
    assert loss.item() == pytest.approx((2.0 + 0.0) / 2)  # cosines 0 and 1
    loss.backward()
    assert online.grad is not None and target.grad is None
