"""Batched augmentation on small uint8 batches: shapes, determinism and exact geometry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deepvision.config import ConfigError, from_dict
from deepvision.data.transforms import (
    AugmentConfig,
    alternate_flips,
    augmentation_preview,
    auto_augment,
    build_augment,
    color_jitter,
    cutmix,
    mix_targets,
    mixup,
    normalize,
    random_affine,
    random_crop_flip,
    random_erasing,
)

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def _images(n: int = 16, c: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=g)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_alternating_flip_shows_every_image_both_ways_over_two_epochs():
    x = _images(64)
    augment = build_augment(AugmentConfig(crop_padding=0, hflip=True, hflip_mode="alternate"),
                            MEAN, STD)
    views = []
    for epoch in (1, 2, 3):
        augment.set_epoch(epoch)
        views.append(augment(x, torch.zeros(64, dtype=torch.long), _gen(epoch))[0])
    mirrored = normalize(x.flip(-1), MEAN, STD)
    flipped = [torch.tensor([torch.equal(v, m) for v, m in zip(view, mirrored, strict=True)])
               for view in views]
    assert bool((flipped[0] ^ flipped[1]).all()) and torch.equal(flipped[0], flipped[2])
    assert 10 < int(flipped[0].sum()) < 54  # an even split, not all or nothing
    assert torch.equal(alternate_flips(x, 1), alternate_flips(x.float() / 255, 1))


def test_normalize_matches_manual_computation_and_keeps_input():
    x = _images()
    before = x.clone()
    out = normalize(x, MEAN, STD)
    expected = (x.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(
        1, 3, 1, 1)
    assert out.dtype == torch.float32 and torch.allclose(out, expected, atol=1e-5)
    assert torch.equal(x, before)
    unit = x.float() / 255
    assert torch.allclose(normalize(unit, MEAN, STD), expected, atol=1e-5)
    assert torch.allclose(unit, x.float() / 255)  # float input is not modified either


@pytest.mark.parametrize("pad_mode", ["reflect", "zeros"])
def test_normalize_and_augment_keep_channels_last(pad_mode: str):
    x = _images().contiguous(memory_format=torch.channels_last)
    out = normalize(x, MEAN, STD)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out, normalize(x.contiguous(), MEAN, STD), atol=1e-6)
    augment = build_augment(AugmentConfig(crop_padding=2, hflip=True, pad_mode=pad_mode), MEAN, STD)
    y, _ = augment(x, torch.zeros(16, dtype=torch.long), _gen())
    y_plain, _ = augment(x.contiguous(), torch.zeros(16, dtype=torch.long), _gen())
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, y_plain)  # same draws, same pixels, whatever the layout


def test_flip_alone_flips_about_half_and_is_deterministic():
    x = _images(64)
    out = random_crop_flip(x, 0, True, _gen(1))
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)])
    same = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert bool((flipped | same).all()) and 10 < int(flipped.sum()) < 54
    assert torch.equal(out, random_crop_flip(x, 0, True, _gen(1)))
    assert not torch.equal(out, random_crop_flip(x, 0, True, _gen(2)))


@pytest.mark.parametrize("pad_mode", ["reflect", "zeros"])
def test_crop_is_a_window_of_the_padded_image(pad_mode: str):
    x, pad = _images(12, size=6), 2
    out = random_crop_flip(x, pad, False, _gen(), pad_mode)
    assert out.shape == x.shape and out.dtype == torch.uint8
    mode = "reflect" if pad_mode == "reflect" else "constant"
    padded = F.pad(x.float(), (pad,) * 4, mode=mode).to(torch.uint8)
    for o, p in zip(out, padded, strict=True):
        windows = [p[:, i:i + 6, j:j + 6] for i in range(2 * pad + 1) for j in range(2 * pad + 1)]
        assert any(torch.equal(o, w) for w in windows)


def test_crop_larger_than_image_is_refused():
    with pytest.raises(ValueError, match="crop padding 8 must be smaller"):
        random_crop_flip(_images(size=8), 8, False, _gen())


def test_augment_switched_off_is_normalize_and_keeps_int_labels():
    x, y = _images(), torch.arange(16) % 4
    out, targets = build_augment(AugmentConfig(crop_padding=0), MEAN, STD)(x, y, _gen())
    assert torch.allclose(out, normalize(x, MEAN, STD)) and torch.equal(targets, y)


@pytest.mark.parametrize("channels", [1, 3])
def test_full_augment_shapes_dtypes_and_determinism(channels: int):
    cfg = AugmentConfig(crop_padding=2, hflip=True, rotate_degrees=15, translate=0.1,
                        scale=(0.9, 1.1), color_jitter=0.4, auto_augment="trivial",
                        auto_augment_chunks=4, erasing_prob=0.5, mixup_alpha=0.4, cutmix_alpha=1.0)
    stats = (0.5,) * channels
    augment = build_augment(cfg, stats, stats, num_classes=5)
    x, y = _images(c=channels), torch.arange(16) % 5
    out, targets = augment(x, y, _gen(3))
    assert out.shape == x.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert targets.shape == (16, 5) and targets.dtype == torch.float32
    again, _ = augment(x, y, _gen(3))
    assert torch.equal(out, again)


def test_mixup_and_cutmix_targets_sum_to_one():
    x, y = _images().float(), torch.arange(16)  # distinct labels: y_b reveals the pairing
    mixed, y_a, y_b, lam = mixup(x, y, 0.4, _gen())
    assert 0 <= lam <= 1 and torch.equal(y_a, y)
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[y_b], atol=1e-4)
    soft = mix_targets(y_a, y_b, lam, 16)
    assert soft.shape == (16, 16) and torch.allclose(soft.sum(1), torch.ones(16))
    cut, c_a, c_b, cut_lam = cutmix(x, y, 1.0, _gen(1))
    pasted = (cut == x[c_b]).all(1) & (cut != x).any(1)  # N×H×W: pixels from the partner
    assert torch.allclose(mix_targets(c_a, c_b, cut_lam, 16).sum(1), torch.ones(16))
    assert float(pasted.float().mean((1, 2)).max()) <= 1 - cut_lam + 1e-6


def test_augment_with_mixing_needs_num_classes_to_train_but_not_to_preview():
    augment = build_augment(AugmentConfig(mixup_alpha=0.2), MEAN, STD)
    with pytest.raises(ValueError, match="pass num_classes"):
        augment(_images(), torch.zeros(16, dtype=torch.long), _gen())
    assert augmentation_preview(_images(), augment, n=4, rows=1).dtype == torch.uint8


def test_mix_prob_zero_gives_one_hot_targets():
    augment = build_augment(AugmentConfig(crop_padding=0, mixup_alpha=0.2, mix_prob=0.0), MEAN, STD,
                            num_classes=4)
    x, y = _images(), torch.arange(16) % 4
    out, targets = augment(x, y, _gen())
    assert torch.equal(targets, F.one_hot(y, 4).float())
    assert torch.allclose(out, normalize(x, MEAN, STD))


def test_identity_affine_returns_the_input():
    x = _images().float() / 255
    assert torch.allclose(random_affine(x, 0.0, 0.0, (1.0, 1.0), _gen()), x, atol=1e-5)
    rotated = random_affine(x, 30.0, 0.1, (0.8, 1.2), _gen())
    assert rotated.shape == x.shape and not torch.allclose(rotated, x)


def test_color_jitter_stays_in_unit_range():
    x = _images().float() / 255
    out = color_jitter(x, 0.8, _gen())
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.allclose(out, x)


def test_random_erasing_erases_one_box_per_image():
    x = normalize(_images(size=16), MEAN, STD) + 10  # no pixel is 0 before erasing
    out = random_erasing(x, 1.0, (0.1, 0.2), (0.5, 2.0), _gen())
    erased = (out == 0).all(1)  # N×H×W
    for mask in erased:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert len(rows) and int(mask.sum()) == len(rows) * len(cols)  # one solid rectangle


def test_auto_augment_is_seeded_by_the_generator_only():
    x = _images(32)
    state = torch.get_rng_state()
    first = auto_augment(x, "randaugment", _gen(5), chunks=4)
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched
    torch.manual_seed(123)  # a different global seed changes nothing
    assert torch.equal(first, auto_augment(x, "randaugment", _gen(5), chunks=4))
    assert first.dtype == torch.uint8 and first.shape == x.shape


def test_preview_grid_has_originals_above_augmented_rows():
    augment = build_augment(AugmentConfig(crop_padding=2, hflip=True), MEAN, STD)
    grid = augmentation_preview(_images(size=8), augment, n=4, rows=2, generator=_gen())
    assert grid.dtype == torch.uint8
    assert grid.shape == (3, 3 * (8 + 2) + 2, 4 * (8 + 2) + 2)


def test_augment_config_names_bad_keys():
    with pytest.raises(ConfigError, match=r"augment.auto_augment='autoaug'.*trivial"):
        AugmentConfig(auto_augment="autoaug")
    with pytest.raises(ConfigError, match=r"augment.scale"):
        AugmentConfig(scale=(1.2, 0.8))
    cfg = from_dict(AugmentConfig, {"scale": [0.8, 1.2], "hflip": True}, "augment")
    assert cfg.scale == (0.8, 1.2) and cfg.affine
