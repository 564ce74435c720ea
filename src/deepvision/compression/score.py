"""The course challenge's score, computed from what a model really holds.

    score = [1 − (p_s + p_u)] · (q_w / 32) · w / 5.6e6
            + (1 − p_s) · (max(q_w, q_a) / 32) · f / 2.8e8

``w`` and ``f`` are the parameters and multiply-accumulates per image of the *dense* architecture
(the model before structured pruning), ``p_s`` the fraction of those parameters removed by
structured pruning (measured: 1 − parameters now / dense parameters), ``p_u`` the fraction that
are exact zeros in the convolution and linear weights (unstructured pruning), ``q_w`` the
parameter-weighted mean bit width of the weights and ``q_a`` the MAC-weighted mean bit width of
the activations each layer computes with. ResNet-18 (CIFAR, 11.2 M parameters, 0.56 G MACs) scores
≈ 4.0 in fp32, 2.0 in fp16, 1.0 in int8.

Bit widths come from the tensors (float32 → 32, float16/bfloat16 → 16); a module whose layers run
elsewhere (an ONNX Runtime int8 graph) says so with two attributes: ``float_model``, the torch
module it computes (counted for parameters, zeros and MACs), and ``quant_bits()``, a map
``layer name → (weight bits, activation bits)`` for the layers it quantized. A quantized layer's
parameters (bias, folded batch norm) count at its weight bits. A layer whose weight holds only
two distinct values (BinaryConnect's ±1) counts at 1 bit per parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from deepvision.models.summary import count_macs_by_layer

REFERENCE_PARAMS = 5.6e6   # w of the course's reference term
REFERENCE_MACS = 2.8e8     # f of the course's reference term
FULL_BITS = 32


@dataclass(frozen=True)
class ScoreParts:
    """The score and every number it is made of (see the module docstring)."""

    challenge_score: float
    p_s: float
    p_u: float
    q_w: float
    q_a: float
    w: int
    f: int
    weight_term: float
    mac_term: float

    def as_metrics(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def score_formula(p_s: float, p_u: float, q_w: float, q_a: float, w: float, f: float,
                  ) -> tuple[float, float]:
    """(weight term, MAC term) of the score, straight from the course's formula."""
    weight = (1 - (p_s + p_u)) * (q_w / FULL_BITS) * w / REFERENCE_PARAMS
    macs = (1 - p_s) * (max(q_w, q_a) / FULL_BITS) * f / REFERENCE_MACS
    return weight, macs


def challenge_score(model: nn.Module, input_shape: Sequence[int],
                    dense: Mapping[str, int] | None = None) -> ScoreParts:
    """The score of ``model`` on one (C, H, W) input. ``dense`` holds ``parameters`` and ``macs``
    of the architecture before structured pruning (default: the model's own counts, p_s = 0)."""
    net = counted_module(model)
    bits = dict(model.quant_bits()) if hasattr(model, "quant_bits") else {}
    macs = count_macs_by_layer(net, input_shape)
    params = zeros = 0
    weight_bits = act_bits = 0.0
    for name, layer in _leaves(net):
        own = list(layer.parameters(recurse=False))
        w_bits, a_bits = bits.get(name, (_weight_bits(own), _dtype_bits(own)))
        n = sum(p.numel() for p in own)
        params += n
        zeros += sum(int((p == 0).sum()) for p in own if p.ndim > 1)  # conv / linear weights
        weight_bits += n * w_bits
        act_bits += macs.get(name, 0) * a_bits
    total_macs = sum(macs.values())
    w = int(dense["parameters"]) if dense else params
    f = int(dense["macs"]) if dense else total_macs
    p_s, p_u = 1 - params / w, zeros / w
    q_w = weight_bits / params if params else FULL_BITS
    q_a = act_bits / total_macs if total_macs else q_w
    weight_term, mac_term = score_formula(p_s, p_u, q_w, q_a, w, f)
    return ScoreParts(weight_term + mac_term, p_s, p_u, q_w, q_a, w, f, weight_term, mac_term)


def model_score(model: nn.Module, input_shape: Sequence[int]) -> ScoreParts:
    """``challenge_score`` with the dense counts a compressed model records in
    ``model.meta["compression"]["dense"]`` (none: the model is its own dense architecture)."""
    meta = getattr(model, "meta", None) or {}
    return challenge_score(model, input_shape, meta.get("compression", {}).get("dense"))


def dense_counts(model: nn.Module, input_shape: Sequence[int]) -> dict[str, int]:
    """``parameters`` and ``macs`` of ``model`` as it is now: record them before structured
    pruning and pass them as ``challenge_score(..., dense=)`` afterwards."""
    net = counted_module(model)
    return {"parameters": sum(p.numel() for p in net.parameters()),
            "macs": sum(count_macs_by_layer(net, input_shape).values())}


def counted_module(model: nn.Module) -> nn.Module:
    """The torch module whose parameters and MACs ``model`` computes (see the module doc)."""
    return getattr(model, "float_model", model)


def _leaves(net: nn.Module):
    return ((n, m) for n, m in net.named_modules()
            if not any(True for _ in m.children()) and any(True for _ in m.parameters(False)))


def _weight_bits(params: list[torch.Tensor]) -> int:
    # Binary weights (BinaryConnect: two values, ±1) need one bit each whatever their dtype.
    weight = next((p for p in params if p.ndim > 1), None)
    if weight is not None and weight.numel() > 2 and len(torch.unique(weight)) <= 2:
        return 1
    return _dtype_bits(params)


def _dtype_bits(params: list[torch.Tensor]) -> int:
    if not params:
        return FULL_BITS
    dtype = params[0].dtype
    return torch.finfo(dtype).bits if dtype.is_floating_point else torch.iinfo(dtype).bits
