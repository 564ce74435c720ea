"""Pruning: the sparsity is reached and kept, channels really leave a residual network, and the
pruned model rebuilds from its recorded shapes."""

import pytest
import torch

from deepvision.compression.prune import (
    layer_shapes,
    make_permanent,
    prune_channels,
    prune_global_magnitude,
    shrink_to,
    sparsity_schedule,
    weight_sparsity,
)
from deepvision.engine.config import TrainConfig
from deepvision.engine.loop import fit
from deepvision.models import create_model
from deepvision.models.summary import count_macs
from tests.synthetic import quadrant_images


def test_global_magnitude_pruning_reaches_the_sparsity_and_fine_tuning_keeps_it():
    torch.manual_seed(0)
    model = create_model("lenet5", 3, 1)
    pruned = prune_global_magnitude(model, 0.8)
    assert weight_sparsity(pruned) == pytest.approx(0.8, abs=1e-3)
    assert weight_sparsity(model) == 0  # the input is not touched
    cfg = TrainConfig(epochs=1, batch_size=12, device="cpu", checkpoint_dir=None,
                      progress="off", threads=1)
    trained = make_permanent(fit(pruned, quadrant_images(), None, cfg).model)
    assert weight_sparsity(trained) == pytest.approx(0.8, abs=1e-3)
    assert not any("original" in k or "mask" in k for k in trained.state_dict())


def test_pruning_ranks_weights_across_layers_smallest_first():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False), torch.nn.Linear(4, 4))
    with torch.no_grad():
        model[0].weight.fill_(0.01)
        model[1].weight.fill_(1.0)
    pruned = make_permanent(prune_global_magnitude(model, 0.5))
    assert (pruned[0].weight == 0).all() and (pruned[1].weight != 0).all()


def test_schedule_ends_at_the_target_and_rejects_bad_values():
    steps = sparsity_schedule(0.8, 3)
    assert steps[-1] == pytest.approx(0.8) and steps == sorted(steps)
    with pytest.raises(ValueError, match=r"sparsity=1.0 is out of range.*\[0, 1\)"):
        prune_global_magnitude(create_model("lenet5", 3, 1), 1.0)


def test_channel_pruning_removes_channels_through_residual_blocks_and_rebuilds():
    model = create_model("resnet20", 10, 3).eval()
    pruned = prune_channels(model, 0.5, torch.zeros(1, 3, 16, 16))
    block = pruned.stages[0][0]
    assert block.conv1[0].out_channels == 8 and block.conv2[0].out_channels == 8
    # the residual stream of a stage is pruned as one: every block's output matches its input
    assert pruned.stem[0][0].out_channels == block.conv2[0].out_channels
    assert count_macs(pruned, (3, 16, 16)) < 0.4 * count_macs(model, (3, 16, 16))
    rebuilt = shrink_to(create_model("resnet20", 10, 3), layer_shapes(pruned)).eval()
    rebuilt.load_state_dict(pruned.state_dict())
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(rebuilt(x), pruned(x))
