"""Low-rank factorization of convolution and linear layers (course session 5).

- A linear layer or a 1×1 convolution ``W`` (O × I) becomes two: ``V`` (I → r) then ``U·S``
  (r → O), from the truncated SVD (Eckart–Young: the best rank-r approximation).
- A k×k convolution ``W`` (O × I × k × k) becomes the Tucker-2 sequence of Kim et al. 2016:
  a 1×1 convolution I → r_i, a k×k convolution r_i → r_o (the core, with the original stride,
  padding and dilation), and a 1×1 convolution r_o → O carrying the bias. The decomposition is
  TensorLy's ``partial_tucker`` (HOOI from an SVD start): a well-kept implementation of exactly
  this, so no hand-written alternating least squares here.

A second mode, ``depthwise``, replaces each k×k convolution by a depthwise-separable pair
(MobileNet's structure): a depthwise k×k convolution with ``m`` filters per input channel
(``groups = I``) and a 1×1 convolution I·m → O. Its weights come from the SVD of each input
channel's slice ``W[:, i]`` (O × k²): the top ``m`` right singular vectors are that channel's
depthwise filters, the left ones scaled by the singular values its pointwise weights — the best
such pair for ``W`` (exact at ``m = min(O, k²)``); ``m = 1`` is MobileNet's separable layer.
Linear layers and 1×1 convolutions get the SVD factors in both modes. In a rank record a k×k
convolution with two ranks ``[r_o, r_i]`` is Tucker-2, with one rank ``[m]`` depthwise-separable.

Ranks are chosen per layer from the singular values of the weight's unfoldings: the smallest rank
keeping ``energy`` of their squared sum, or, for a global ``ratio``, one energy threshold found by
bisection so the factorized layers together keep about ``ratio`` of their parameters. A layer is
replaced only where the factors are smaller than the layer; grouped convolutions and the first
convolution (its few input channels leave nothing to save) stay as they are. A factorized model
records ``{layer: ranks}`` in ``meta["compression"]["factorized"]``, from which ``refactor``
rebuilds the same structure for a bundle's weights to load into.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

Ranks = dict[str, list[int]]
MODES = ("lowrank", "depthwise")


def check_factorize(energy: float | None, ratio: float | None, rank: int | None,
                    mode: str = "lowrank") -> None:
    """Exactly one of energy / ratio / rank, each in range, and a known mode; one line naming
    the key otherwise."""
    if mode not in MODES:
        raise ValueError(f"compress.factorize.mode={mode!r} is unknown: use one of "
                         f"{', '.join(MODES)}")
    given = [k for k, v in (("energy", energy), ("ratio", ratio), ("rank", rank)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"compress.factorize needs exactly one of energy, ratio or rank; got "
                         f"{', '.join(given) or 'none'}")
    for key, value in (("energy", energy), ("ratio", ratio)):
        if value is not None and not 0 < value < 1:
            raise ValueError(f"compress.factorize.{key}={value!r} is out of range: it must be "
                             "in (0, 1) (e.g. 0.9 keeps 90%)")
    if rank is not None and rank < 2 and not (mode == "depthwise" and rank == 1):
        raise ValueError(f"compress.factorize.rank={rank!r}: rank 1 keeps a single direction "
                         "per layer and destroys the network; use rank >= 2, or energy/ratio "
                         "(mode depthwise takes 1: one filter per input channel)")


def choose_ranks(model: nn.Module, energy: float | None = None, ratio: float | None = None,
                 rank: int | None = None, mode: str = "lowrank") -> Ranks:
    """``{layer: ranks}`` for every layer worth factorizing (see the module docstring)."""
    check_factorize(energy, ratio, rank, mode)
    layers = factorizable(model)
    spectra = {name: _spectra(m, mode) for name, m in layers.items()}
    # Rank 1 destroys a Tucker or SVD factorization but is MobileNet's depthwise multiplier.
    lowest = {n: 1 if mode == "depthwise" and not _pointwise(m) else 2 for n, m in layers.items()}
    if rank is not None:
        return _keep_smaller(model, {n: [min(rank, len(s)) for s in sp]
                                     for n, sp in spectra.items()})
    if energy is not None:
        return _keep_smaller(model, _ranks_at(spectra, energy, lowest))
    target = ratio * sum(_params(model.get_submodule(n)) for n in spectra)
    low, high = 0.0, 1.0
    for _ in range(30):  # bisection on one energy threshold shared by every layer
        mid = (low + high) / 2
        kept = _ranks_at(spectra, mid, lowest)
        size = sum(_factor_params(model.get_submodule(n), r) for n, r in kept.items())
        low, high = (mid, high) if size < target else (low, mid)
    return _keep_smaller(model, _ranks_at(spectra, low, lowest))


def factorize(model: nn.Module, ranks: Mapping[str, Sequence[int]]) -> nn.Module:
    """A copy of ``model`` with each named layer replaced by its low-rank factors."""
    model = copy.deepcopy(model)
    for name, r in ranks.items():
        layer = model.get_submodule(name)
        model.set_submodule(name, _decompose(layer, list(r)))
    return model


def refactor(model: nn.Module, ranks: Mapping[str, Sequence[int]]) -> nn.Module:
    """Give a freshly built dense ``model`` the factorized structure (in place, untrained
    factors), so the state dict of ``factorize(model, ranks)`` loads into it."""
    for name, r in ranks.items():
        model.set_submodule(name, _shell(model.get_submodule(name), list(r)))
    return model


def factorizable(model: nn.Module) -> dict[str, nn.Module]:
    """Linear layers and ungrouped convolutions, but the first convolution (its 1–3 input
    channels leave nothing to factor out)."""
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    first = convs[0] if convs else None
    return {n: m for n, m in model.named_modules()
            if (isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1))
            and n != first}


def _spectra(m: nn.Module, mode: str = "lowrank") -> list[Tensor]:
    """Singular values of the weight's output and (for k×k convolutions) input unfoldings; in
    depthwise mode, of every input channel's slice, pooled per index (root of summed squares),
    so the energy kept by ``m`` filters per channel reads off one spectrum."""
    w = m.weight.detach().float()
    if _pointwise(m):
        return [torch.linalg.svdvals(w.flatten(1))]
    if mode == "depthwise":
        per_channel = torch.linalg.svdvals(w.transpose(0, 1).flatten(2))  # I × min(O, k²)
        return [per_channel.pow(2).sum(0).sqrt()]
    return [torch.linalg.svdvals(w.flatten(1)), torch.linalg.svdvals(w.transpose(0, 1).flatten(1))]


def _ranks_at(spectra: Mapping[str, list[Tensor]], energy: float,
              lowest: Mapping[str, int]) -> Ranks:
    def rank(s: Tensor, low: int) -> int:
        share = (s ** 2).cumsum(0) / (s ** 2).sum().clamp_min(1e-12)
        return max(low, min(len(s), int((share < energy).sum()) + 1))
    return {n: [rank(s, lowest[n]) for s in sp] for n, sp in spectra.items()}


def _keep_smaller(model: nn.Module, ranks: Ranks) -> Ranks:
    return {n: r for n, r in ranks.items()
            if _factor_params(model.get_submodule(n), r) < _params(model.get_submodule(n))}


def _pointwise(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) or m.kernel_size == (1, 1)


def _params(m: nn.Module) -> int:
    return m.weight.numel()


def _factor_params(m: nn.Module, r: Sequence[int]) -> int:
    out, inp = m.weight.shape[:2]
    if _pointwise(m):
        return r[0] * (out + inp)
    k = m.weight[0, 0].numel()
    if _separable(m, r):
        return inp * r[0] * (k + out)
    return inp * r[1] + r[1] * r[0] * k + r[0] * out


def _separable(m: nn.Module, r: Sequence[int]) -> bool:
    """A k×k convolution recorded with one rank: depthwise-separable with multiplier ``r[0]``."""
    return not _pointwise(m) and len(r) == 1


def _decompose(m: nn.Module, r: list[int]) -> nn.Sequential:
    """The factors of ``m`` at ranks ``r``, with its weights."""
    w = m.weight.detach().float()
    net = _shell(m, r)
    with torch.no_grad():
        if _pointwise(m):
            u, s, vh = torch.linalg.svd(w.flatten(1), full_matrices=False)
            net[0].weight.copy_(vh[:r[0]].reshape(net[0].weight.shape))
            net[1].weight.copy_((u[:, :r[0]] * s[:r[0]]).reshape(net[1].weight.shape))
        elif _separable(m, r):
            u, s, vh = torch.linalg.svd(w.transpose(0, 1).flatten(2), full_matrices=False)
            # channel i·m + j of the depthwise layer: input i's j-th right singular vector
            net[0].weight.copy_(vh[:, :r[0]].reshape(net[0].weight.shape))
            pointwise = (u[:, :, :r[0]] * s[:, None, :r[0]]).permute(1, 0, 2)  # O × I × m
            net[1].weight.copy_(pointwise.reshape(net[1].weight.shape))
        else:
            core, (out_f, in_f) = _tucker2(w, r)
            net[0].weight.copy_(in_f.t()[:, :, None, None])
            net[1].weight.copy_(core)
            net[2].weight.copy_(out_f[:, :, None, None])
        if m.bias is not None:
            net[-1].bias.copy_(m.bias)
    return net.to(m.weight.dtype)


def _tucker2(w: Tensor, r: list[int]) -> tuple[Tensor, list[Tensor]]:
    import tensorly as tl
    from tensorly.decomposition import partial_tucker

    with tl.backend_context("pytorch"):
        (core, factors), _ = partial_tucker(w, rank=[r[0], r[1]], modes=[0, 1], init="svd")
    return core, factors


def _shell(m: nn.Module, r: list[int]) -> nn.Sequential:
    """The factorized structure of ``m`` (untrained)."""
    bias = m.bias is not None
    if isinstance(m, nn.Linear):
        return nn.Sequential(nn.Linear(m.in_features, r[0], bias=False),
                             nn.Linear(r[0], m.out_features, bias=bias))
    if _pointwise(m):
        return nn.Sequential(nn.Conv2d(m.in_channels, r[0], 1, stride=m.stride,
                                       padding=m.padding, bias=False),
                             nn.Conv2d(r[0], m.out_channels, 1, bias=bias))
    if _separable(m, r):
        return nn.Sequential(
            nn.Conv2d(m.in_channels, m.in_channels * r[0], m.kernel_size, stride=m.stride,
                      padding=m.padding, dilation=m.dilation, groups=m.in_channels, bias=False,
                      padding_mode=m.padding_mode),
            nn.Conv2d(m.in_channels * r[0], m.out_channels, 1, bias=bias))
    return nn.Sequential(
        nn.Conv2d(m.in_channels, r[1], 1, bias=False),
        nn.Conv2d(r[1], r[0], m.kernel_size, stride=m.stride, padding=m.padding,
                  dilation=m.dilation, bias=False, padding_mode=m.padding_mode),
        nn.Conv2d(r[0], m.out_channels, 1, bias=bias))

