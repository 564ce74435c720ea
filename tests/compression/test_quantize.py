"""Quantization: int8 through ONNX Runtime stays close to fp32, half precision casts, fake-quant
and BinaryConnect train through the loop, and every form rebuilds from its bundle."""

import io

import pytest
import torch
from torch import nn

from deepvision.compression.quantize import (
    BinarySign,
    FakeQuantWeight,
    cast_weights,
    clip_shadow_weights,
    int8_plan,
    parametrize_weights,
    quantize_int8,
)
from deepvision.compression.score import challenge_score
from deepvision.compression.steps import CompressConfig, StepContext, run_steps
from deepvision.engine.config import TrainConfig
from deepvision.engine.loop import to_float
from deepvision.models import create_model
from deepvision.models.bundle import bundle_to_dict, model_from_bundle
from tests.synthetic import quadrant_images


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    model = create_model("resnet20", 3, 1).eval()
    model.meta = {"class_names": ["a", "b", "c"], "mean": [0.0], "std": [1.0]}
    return model


def _reload(model: nn.Module) -> nn.Module:
    buffer = io.BytesIO()
    torch.save(bundle_to_dict(model, model.meta), buffer)
    buffer.seek(0)
    rebuilt, rebuilt.meta = model_from_bundle(torch.load(buffer, weights_only=True))
    return rebuilt.eval()


def test_int8_output_is_close_to_fp32_and_scores_a_quarter():
    model = _tiny()
    x = to_float(quadrant_images(64)[0])
    q = quantize_int8(model, x)
    with torch.no_grad():
        ref, out = model(x), q(x)
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()
    assert (out.argmax(1) == ref.argmax(1)).float().mean() >= 0.9
    fp32, int8 = challenge_score(model, (1, 8, 8)), challenge_score(q, (1, 8, 8))
    assert int8.q_w == int8.q_a == 8 and int8.challenge_score == pytest.approx(
        fp32.challenge_score / 4)


def test_int8_names_layers_it_cannot_quantize_and_needs_calibration_images():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4), nn.Flatten(), nn.Linear(144, 2))
    assert int8_plan(net) == (["0", "3"], ["1 (GroupNorm)"])
    with pytest.raises(ValueError, match="needs calibration images"):
        quantize_int8(net, torch.zeros(0, 1, 8, 8))


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_keeps_float32_in_and_out(precision):
    model = _tiny()
    half = cast_weights(model, precision)
    x = torch.rand(2, 1, 8, 8)
    out = half(x)
    assert out.dtype == torch.float32 and torch.allclose(out, model(x), atol=0.1, rtol=0.1)
    assert challenge_score(half, (1, 8, 8)).q_w == 16


def test_fake_quant_puts_weights_on_an_int8_grid_and_binary_on_plus_minus_one():
    layer = nn.Conv2d(2, 3, 3)
    parametrize_weights(nn.Sequential(layer), FakeQuantWeight)
    w = layer.weight.detach()
    steps = w / (w.abs().flatten(1).amax(1) / 127).view(-1, 1, 1, 1)
    assert torch.allclose(steps, steps.round(), atol=1e-3)
    binary = nn.Linear(4, 3)
    parametrize_weights(nn.Sequential(binary), BinarySign)
    assert set(binary.weight.detach().unique().tolist()) <= {-1.0, 1.0}
    with torch.no_grad():
        binary.parametrizations.weight.original.mul_(10)
    clip_shadow_weights(binary)
    assert binary.parametrizations.weight.original.abs().max() <= 1


@pytest.mark.parametrize("steps", [("qat", "quantize_int8"), ("binary_connect",),
                                   ("prune_structured", "quantize_fp16")])
def test_training_and_transform_steps_rebuild_from_their_bundles(steps):
    images, labels = quadrant_images(36)
    cfg = CompressConfig(steps=steps, calibration_images=16)
    train = TrainConfig(epochs=1, batch_size=12, device="cpu", checkpoint_dir=None,
                        progress="off", threads=1)
    ctx = StepContext((images, labels), None, train, None, to_float, (1, 8, 8), cfg)
    stages = run_steps(_tiny(), ctx)
    assert [name for name, _ in stages] == ["uncompressed", *steps]
    final = stages[-1][1].eval()
    assert final.meta["compression"]["steps"] == list(steps)
    x = to_float(images[:4])
    assert torch.allclose(_reload(final)(x), final(x), atol=1e-5)
    if steps == ("binary_connect",):  # ±1 weights inside, the first and last layers in float
        assert 1 < challenge_score(final, (1, 8, 8)).q_w < 32
