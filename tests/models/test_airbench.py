"""airbench94: shapes, frozen whitening set from the data, batch norms that learn only a shift."""

import torch

from deepvision.engine import TrainConfig, fit
from deepvision.models import create_model


def _model(**kwargs):
    torch.manual_seed(0)
    return create_model("airbench94", 10, 3, widths=(8, 16, 16), **kwargs)


def test_logits_for_any_input_size_and_channel_count():
    assert _model()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    gray = create_model("airbench94", 4, 1, widths=(8, 8, 8))
    assert gray(torch.randn(2, 1, 16, 16)).shape == (2, 4)


def test_data_init_whitens_the_patches_of_the_images():
    model = _model(whiten_eps=0.0)
    g = torch.Generator().manual_seed(0)
    # Correlated channels: whitening must decorrelate them.
    base = torch.randn(256, 1, 8, 8, generator=g)
    images = torch.cat([base, base + 0.1 * torch.randn(256, 2, 8, 8, generator=g)], 1)
    model.data_init(images)
    out = model.whiten(images) - model.whiten.bias.view(1, -1, 1, 1)
    half = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)  # the filters; the rest negate them
    covariance = half.T @ half / len(half)
    torch.testing.assert_close(covariance, torch.eye(12), atol=0.05, rtol=0)
    torch.testing.assert_close(out[:, 12:], -out[:, :12])


def test_fit_sets_the_whitening_and_never_trains_it_or_the_norm_scales():
    model = _model()
    x = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8)
    y = torch.arange(64) % 10
    cfg = TrainConfig(epochs=1, batch_size=16, warmup_epochs=0, checkpoint_dir=None,
                      progress="off", precision="fp32")
    trained = fit(model, (x, y), None, cfg).model
    expected = _model()
    expected.data_init(x.float() / 255)
    torch.testing.assert_close(trained.whiten.weight, expected.whiten.weight)
    norms = [m for m in trained.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(bool((m.weight == 1).all()) for m in norms)
    assert not torch.equal(trained.head.weight, model.head.weight)
