"""Model size and cost: parameter counts, multiply-accumulates, memory, per-layer output shapes.

MACs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix
products, which dominate; norms, activations and pooling are not counted) as FLOPs / 2, for one
input in eval mode.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) number of parameters."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def model_size_mb(model: nn.Module) -> float:
    """Parameters plus buffers (BN running statistics), in MiB."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on a single (C, H, W) input."""
    return _count_flops(model, input_shape).get_total_flops() // 2


def count_macs_by_layer(model: nn.Module, input_shape: Sequence[int]) -> dict[str, int]:
    """Multiply-accumulates of one forward pass per leaf module, by its name in ``model``
    (leaves that compute none, such as activations and norms, get 0)."""
    model = getattr(model, "float_model", model)
    counts = _count_flops(model, input_shape).get_flop_counts()
    # FlopCounterMode names a module "<root class>.<name in the root>".
    root = type(model).__name__
    return {name: sum(counts.get(f"{root}.{name}", {}).values()) // 2
            for name, m in model.named_modules() if name and not any(True for _ in m.children())}


def _count_flops(model: nn.Module, input_shape: Sequence[int]) -> FlopCounterMode:
    # A module that runs outside torch (an ONNX Runtime int8 graph) names the torch module it
    # computes ``float_model``; its multiply-accumulates are that module's.
    model = getattr(model, "float_model", model)
    x = _example_input(model, input_shape)
    with _eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter


def layer_summary(model: nn.Module, input_shape: Sequence[int]) -> list[dict[str, Any]]:
    """One row per call of a leaf module: name, type, output shape (batch 1), own parameters.

    A module called twice (a shared ReLU) gives two rows.
    """
    rows: list[dict[str, Any]] = []

    def record(name: str):
        def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
            rows.append({"name": name, "type": type(module).__name__,
                         "output_shape": _shape(output),
                         "params": sum(p.numel() for p in module.parameters(recurse=False))})
        return hook

    handles = [m.register_forward_hook(record(name)) for name, m in model.named_modules()
               if not any(True for _ in m.children())]
    try:
        with _eval_mode(model), torch.no_grad():
            model(_example_input(model, input_shape))
    finally:
        for h in handles:
            h.remove()
    return rows


def _example_input(model: nn.Module, input_shape: Sequence[int]) -> Tensor:
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {tuple(input_shape)}")
    p = next(model.parameters(), None)
    device, dtype = (p.device, p.dtype) if p is not None else (None, None)
    return torch.zeros(1, *input_shape, device=device, dtype=dtype)


def _shape(output: Any) -> tuple[int, ...] | list[Any]:
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return [_shape(o) for o in output]
    return []


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    # Restore each module's own mode afterwards: a partly frozen model keeps its frozen BN in eval.
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def model_card(model: nn.Module, input_shape: Sequence[int]) -> dict[str, Any]:
    """Name, arguments, size and cost of ``model`` at ``input_shape`` (C, H, W), with its layers."""
    total, trainable = count_parameters(model)
    spec = getattr(model, "spec", None)
    return {
        "name": spec.name if spec is not None else type(model).__name__,
        "spec": spec.to_dict() if spec is not None else None,
        "input_shape": list(input_shape),
        "parameters": total,
        "trainable_parameters": trainable,
        "macs_per_image": count_macs(model, input_shape),
        "size_mb": round(model_size_mb(model), 3),
        "layers": [{**row, "output_shape": list(row["output_shape"])}
                   for row in layer_summary(model, input_shape)],
    }
