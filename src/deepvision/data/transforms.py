"""Batched augmentation on image tensors that already sit on the training device (no PIL, no
per-image Python loop).

Order: random crop + flip (one gather on uint8) → TrivialAugment/RandAugment (uint8) → affine
(``grid_sample``) → colour jitter → normalise → random erasing → mixup/cutmix. Every random number
comes from the ``generator`` passed in, so a seeded generator reproduces a batch exactly.

torchvision's v2 auto-augment ops draw one set of parameters per call, so a batch is cut into
``auto_augment_chunks`` sub-batches, each with its own op and magnitude (seeded from the generator).
Mixup and cutmix draw one λ (and one box) per batch, as in timm. The output keeps the input's memory
format (``torch.channels_last`` in, ``torch.channels_last`` out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2
from torchvision.utils import make_grid

from deepvision.config import ConfigError, check_choice, check_range

AUTO_AUGMENT = ("none", "trivial", "randaugment")
PAD_MODES = ("reflect", "zeros")
HFLIP_MODES = ("random", "alternate")
_GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation (``augment`` parameters); the defaults suit small digit images: a
    1-pixel random crop and nothing else (no flip: a mirrored 2 is not a 2)."""

    crop_padding: int = 1  # pixels padded on each side before a random crop back to full size
    pad_mode: str = "reflect"  # reflect | zeros: fill for crop padding and affine borders
    hflip: bool = False  # mirror half the images left↔right
    # random: a fresh coin per image and epoch; alternate (airbench): each image is mirrored on
    # every other epoch, so any two consecutive epochs show both of its sides
    hflip_mode: str = "random"
    rotate_degrees: float = 0.0  # rotation drawn in ±degrees
    translate: float = 0.0  # shift drawn in ±fraction of width/height
    scale: tuple[float, float] = (1.0, 1.0)  # zoom factor range (>1 zooms in)
    color_jitter: float = 0.0  # brightness/contrast/saturation factors drawn in 1 ± this
    auto_augment: str = "none"  # none | trivial (TrivialAugmentWide) | randaugment
    randaugment_ops: int = 2  # ops per image for randaugment
    randaugment_magnitude: int = 9  # 0..30 for randaugment
    auto_augment_chunks: int = 8  # sub-batches with independent auto-augment parameters
    erasing_prob: float = 0.0  # probability of erasing one rectangle per image
    erasing_scale: tuple[float, float] = (0.02, 0.33)  # erased fraction of the image area
    erasing_ratio: tuple[float, float] = (0.3, 3.3)  # erased rectangle aspect ratio (h/w)
    mixup_alpha: float = 0.0  # Beta(α, α) for mixup; 0 disables
    cutmix_alpha: float = 0.0  # Beta(α, α) for cutmix; 0 disables (both set: 50/50 per batch)
    mix_prob: float = 1.0  # probability that a batch is mixed when mixup/cutmix is on

    def __post_init__(self) -> None:
        check_range(self.crop_padding, "augment.crop_padding", 0)
        check_choice(self.pad_mode, PAD_MODES, "augment.pad_mode")
        check_choice(self.hflip_mode, HFLIP_MODES, "augment.hflip_mode")
        check_range(self.rotate_degrees, "augment.rotate_degrees", 0, 180)
        check_range(self.translate, "augment.translate", 0, 1)
        check_range(self.color_jitter, "augment.color_jitter", 0, 1)
        check_choice(self.auto_augment, AUTO_AUGMENT, "augment.auto_augment")
        check_range(self.randaugment_ops, "augment.randaugment_ops", 1)
        check_range(self.randaugment_magnitude, "augment.randaugment_magnitude", 0, 30)
        check_range(self.auto_augment_chunks, "augment.auto_augment_chunks", 1)
        check_range(self.erasing_prob, "augment.erasing_prob", 0, 1)
        for key in ("mixup_alpha", "cutmix_alpha"):
            check_range(getattr(self, key), f"augment.{key}", 0)
        check_range(self.mix_prob, "augment.mix_prob", 0, 1)
        _check_interval(self.scale, "augment.scale", low=0.0)
        _check_interval(self.erasing_scale, "augment.erasing_scale", low=0.0, high=1.0)
        _check_interval(self.erasing_ratio, "augment.erasing_ratio", low=0.0)

    @property
    def mixes(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    @property
    def affine(self) -> bool:
        return self.rotate_degrees > 0 or self.translate > 0 or self.scale != (1.0, 1.0)


def _check_interval(value: tuple[float, ...], key: str, low: float, high: float | None = None
                    ) -> None:
    if len(value) != 2 or not low < value[0] <= value[1] or (high is not None and value[1] > high):
        upper = "" if high is None else f" and <= {high}"
        raise ConfigError(f"{key}={list(value)!r} must be [min, max] with "
                          f"{low} < min <= max{upper}")


@dataclass(eq=False)
class BatchAugment:
    """``augment(images, labels, generator) -> (normalised float images, targets)``.

    Targets are the int labels, or N×K soft labels (float) when mixup/cutmix is configured. The
    loop calls ``set_epoch`` before each epoch (PyTorch's ``DistributedSampler`` convention); only
    the alternating flip reads it.
    """

    cfg: AugmentConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int | None = None
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, images: Tensor, labels: Tensor, generator: torch.Generator | None = None
                 ) -> tuple[Tensor, Tensor]:
        cfg, fmt = self.cfg, _memory_format(images)
        x = images
        if cfg.crop_padding or cfg.hflip:
            x = random_crop_flip(x, cfg.crop_padding, cfg.hflip, generator, cfg.pad_mode,
                                 self.epoch if cfg.hflip_mode == "alternate" else None)
        if cfg.auto_augment != "none":
            x = auto_augment(x, cfg.auto_augment, generator, cfg.auto_augment_chunks,
                             cfg.randaugment_ops, cfg.randaugment_magnitude)
        if cfg.affine or cfg.color_jitter:
            x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
        if cfg.affine:
            x = random_affine(x, cfg.rotate_degrees, cfg.translate, cfg.scale, generator,
                              cfg.pad_mode)
        if cfg.color_jitter:
            x = color_jitter(x, cfg.color_jitter, generator)
        x = normalize(x, self.mean, self.std)
        if cfg.erasing_prob:
            x = random_erasing(x, cfg.erasing_prob, cfg.erasing_scale, cfg.erasing_ratio, generator)
        targets = labels
        if cfg.mixes:
            x, targets = self._mix(x, labels, generator)
        return x.contiguous(memory_format=fmt), targets

    def _mix(self, x: Tensor, labels: Tensor, generator: torch.Generator | None
             ) -> tuple[Tensor, Tensor]:
        cfg = self.cfg
        if not self.num_classes:
            raise ValueError("mixup/cutmix produce N×K soft targets: pass num_classes to "
                             "build_augment (e.g. train_split.num_classes)")
        if _uniform(generator, 1).item() >= cfg.mix_prob:
            return x, mix_targets(labels, labels, 1.0, self.num_classes)
        use_cutmix = cfg.cutmix_alpha > 0 and (
            cfg.mixup_alpha == 0 or _uniform(generator, 1).item() < 0.5)
        if use_cutmix:
            x, y_a, y_b, lam = cutmix(x, labels, cfg.cutmix_alpha, generator)
        else:
            x, y_a, y_b, lam = mixup(x, labels, cfg.mixup_alpha, generator)
        return x, mix_targets(y_a, y_b, lam, self.num_classes)


def build_augment(cfg: AugmentConfig, mean: Sequence[float], std: Sequence[float],
                  num_classes: int | None = None) -> BatchAugment:
    """The training augmentation. ``num_classes`` sizes the soft targets of mixup/cutmix; without
    it a mixing policy still builds (the preview needs no targets) but refuses to train."""
    if mean is None or std is None:
        raise ValueError("normalisation statistics are missing: compute them on the train split "
                         "(split.stratified_split / normalization_stats) first")
    if len(mean) != len(std):
        raise ValueError(f"mean has {len(mean)} channels but std has {len(std)}")
    return BatchAugment(cfg, tuple(mean), tuple(std), num_classes)


def normalize(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """(x / 255 − mean) / std for uint8 input (float input is taken as [0, 1]); evaluation uses
    this alone. The input is not modified and its memory format is kept."""
    n, c, h, w = images.shape
    if c != len(mean):
        raise ValueError(f"images have {c} channels but the statistics have {len(mean)}")
    unit = 1 / 255 if images.dtype == torch.uint8 else 1.0
    scale = torch.tensor([unit / s for s in std], device=images.device)
    shift = torch.tensor([m / s for m, s in zip(mean, std, strict=True)], device=images.device)
    if _memory_format(images) == torch.channels_last:
        # Broadcasting along the innermost axis (C = 3) is slow; repeating the factors along a
        # whole H row is faster (README, "Benchmarks").
        rows = images.permute(0, 2, 3, 1).reshape(n * h, w * c)
        out = rows.to(torch.float32, copy=True).mul_(scale.repeat(w)).sub_(shift.repeat(w))
        return out.view(n, h, w, c).permute(0, 3, 1, 2)
    out = images.to(torch.float32, copy=True)
    return out.mul_(scale.view(1, c, 1, 1)).sub_(shift.view(1, c, 1, 1))


# --- geometric ------------------------------------------------------------------------------------

def random_crop_flip(images: Tensor, padding: int, flip: bool, generator: torch.Generator | None,
                     pad_mode: str = "reflect", alternate_epoch: int | None = None) -> Tensor:
    """Random crop of a ``padding``-padded image back to its size, plus a horizontal flip, as a
    single gather (the padded image is never materialised). Any dtype. The flip is a coin per
    image, or with ``alternate_epoch`` the alternating flip of that epoch (``alternate_flips``)."""
    n, c, h, w = images.shape
    if padding >= min(h, w):
        raise ValueError(f"crop padding {padding} must be smaller than the image ({h}×{w})")
    dy = _randint(generator, -padding, padding + 1, n, images.device)
    dx = _randint(generator, -padding, padding + 1, n, images.device)
    rows = dy[:, None] + torch.arange(h, device=images.device)  # N×H source rows
    cols = dx[:, None] + torch.arange(w, device=images.device)  # N×W source columns
    if flip:
        flipped = (_uniform(generator, n, device=images.device) < 0.5 if alternate_epoch is None
                   else alternate_flips(images, alternate_epoch))
        cols = torch.where(flipped[:, None], cols.flip(1), cols)
    valid = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
    rows, cols = _reflect_or_clamp(rows, h, pad_mode), _reflect_or_clamp(cols, w, pad_mode)
    out = _gather_pixels(images, rows[:, :, None] * w + cols[:, None, :])
    if pad_mode == "zeros" and padding:
        inside = valid[0][:, None, :, None] & valid[1][:, None, None, :]
        out = out.masked_fill(~inside, 0)
    return out


def alternate_flips(images: Tensor, epoch: int) -> Tensor:
    """Which images airbench's alternating flip mirrors in ``epoch``: each image's own fixed bit
    (the parity of its pixel sum, which splits natural images evenly and needs no dataset index,
    so it works with any batch source), inverted on every other epoch. Over any two consecutive
    epochs every image is seen both ways: the flip's variety without its repeats (Jordan 2024)."""
    values = images.mul(255).round() if images.is_floating_point() else images
    return (values.flatten(1).sum(1, dtype=torch.int64) + epoch) % 2 == 1


def _reflect_or_clamp(index: Tensor, size: int, pad_mode: str) -> Tensor:
    """Bring out-of-range positions inside: mirrored (reflect) or clamped (zeros, masked later)."""
    if pad_mode == "reflect":
        index = index.abs()
        return torch.where(index >= size, 2 * (size - 1) - index, index)
    return index.clamp(0, size - 1)


def _gather_pixels(images: Tensor, flat_index: Tensor) -> Tensor:
    """``out[n, :, i, j] = images[n, :, flat_index[n, i, j] // W, flat_index[n, i, j] % W]``,
    gathered in the input's own memory layout."""
    n, c, h, w = images.shape
    index = flat_index.reshape(n, h * w)
    if _memory_format(images) == torch.channels_last:
        # NHWC: copy whole C-byte pixels; index_select beats gather here (README, "Benchmarks").
        pixels = images.permute(0, 2, 3, 1).reshape(n * h * w, c)  # a view: NHWC is contiguous
        offsets = torch.arange(n, device=images.device)[:, None] * (h * w)
        out = pixels.index_select(0, (index + offsets).reshape(-1))
        return out.view(n, h, w, c).permute(0, 3, 1, 2)
    out = images.reshape(n, c, h * w).gather(2, index[:, None, :].expand(n, c, h * w))
    return out.view(n, c, h, w)


def random_affine(images: Tensor, degrees: float, translate: float, scale: tuple[float, float],
                  generator: torch.Generator | None, pad_mode: str = "reflect") -> Tensor:
    """Per-image rotation, shift and zoom of float images with one ``grid_sample`` call."""
    n, _, h, w = images.shape
    dev = images.device
    angle = _uniform(generator, n, -degrees, degrees, dev) * (math.pi / 180)
    zoom = _uniform(generator, n, scale[0], scale[1], dev)
    # Shifts in affine_grid's [-1, 1] units: a full width is 2.
    shift = _uniform(generator, 2 * n, -2 * translate, 2 * translate, dev).view(2, n)
    cos, sin = angle.cos() / zoom, angle.sin() / zoom
    # theta maps output to input coordinates normalised per axis; h/w keeps angles true on
    # non-square images.
    theta = torch.stack([torch.stack([cos, -sin * h / w, shift[0]], 1),
                         torch.stack([sin * w / h, cos, shift[1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    padding = "reflection" if pad_mode == "reflect" else "zeros"
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding, align_corners=False)


# --- photometric ----------------------------------------------------------------------------------

def color_jitter(images: Tensor, strength: float, generator: torch.Generator | None) -> Tensor:
    """Per-image brightness, contrast and (RGB only) saturation in 1 ± strength, in that order,
    on float images in [0, 1]."""
    n, c = images.shape[:2]

    def factor() -> Tensor:
        return _uniform(generator, n, max(0.0, 1 - strength), 1 + strength,
                        images.device).view(n, 1, 1, 1)

    x = (images * factor()).clamp_(0, 1)
    x = _blend(x, _gray(x).mean((1, 2, 3), keepdim=True), factor())
    if c == 3:
        x = _blend(x, _gray(x), factor())
    return x


def _gray(x: Tensor) -> Tensor:
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(_GRAY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def _blend(x: Tensor, base: Tensor, factor: Tensor) -> Tensor:
    return ((x - base) * factor + base).clamp_(0, 1)


def auto_augment(images: Tensor, policy: str, generator: torch.Generator | None, chunks: int = 8,
                 num_ops: int = 2, magnitude: int = 9) -> Tensor:
    """TrivialAugmentWide or RandAugment on uint8 images; each of ``chunks`` sub-batches gets its
    own parameters (torchvision v2 draws one set per call) from a seed taken from ``generator``."""
    op = v2.TrivialAugmentWide() if policy == "trivial" else v2.RandAugment(num_ops, magnitude)
    parts = images.chunk(chunks)
    seeds = _randint(generator, 0, 2**62, len(parts), torch.device("cpu")).tolist()
    out = []
    for part, seed in zip(parts, seeds, strict=True):
        # v2 draws from torch's global CPU generator: seed it, then restore its state.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            out.append(op(part))
    return torch.cat(out)


def random_erasing(images: Tensor, prob: float, scale: tuple[float, float],
                   ratio: tuple[float, float], generator: torch.Generator | None,
                   value: float = 0.0) -> Tensor:
    """Erase one rectangle per image with probability ``prob`` (after normalisation, so 0 is the
    mean). Rectangles that would not fit are clipped to the image instead of redrawn."""
    n, _, h, w = images.shape
    dev = images.device
    area = _uniform(generator, n, scale[0], scale[1], dev) * (h * w)
    aspect = _uniform(generator, n, math.log(ratio[0]), math.log(ratio[1]), dev).exp()
    eh = (area * aspect).sqrt().round().clamp(1, h)
    ew = (area / aspect).sqrt().round().clamp(1, w)
    top = (_uniform(generator, n, device=dev) * (h - eh + 1)).floor()
    left = (_uniform(generator, n, device=dev) * (w - ew + 1)).floor()
    apply = _uniform(generator, n, device=dev) < prob
    rows = torch.arange(h, device=dev)[None, :]
    cols = torch.arange(w, device=dev)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
    mask = in_rows[:, None, :, None] & in_cols[:, None, None, :] & apply[:, None, None, None]
    return images.masked_fill(mask, value)


# --- mixing ---------------------------------------------------------------------------------------

def mixup(images: Tensor, labels: Tensor, alpha: float, generator: torch.Generator | None
          ) -> tuple[Tensor, Tensor, Tensor, float]:
    """λ·x + (1−λ)·x[perm] with λ ~ Beta(α, α) per batch; returns (images, y_a, y_b, λ)."""
    lam = _beta(generator, alpha)
    perm = _randperm(generator, images.shape[0], images.device)
    return images * lam + images[perm] * (1 - lam), labels, labels[perm], lam


def cutmix(images: Tensor, labels: Tensor, alpha: float, generator: torch.Generator | None
           ) -> tuple[Tensor, Tensor, Tensor, float]:
    """Paste one box of x[perm] into every image; λ is the area left unpasted."""
    n, _, h, w = images.shape
    lam = _beta(generator, alpha)
    perm = _randperm(generator, n, images.device)
    cut = math.sqrt(1 - lam)
    cy = int(_randint(generator, 0, h, 1, torch.device("cpu")))
    cx = int(_randint(generator, 0, w, 1, torch.device("cpu")))
    y0, y1 = max(cy - int(h * cut) // 2, 0), min(cy + int(h * cut) // 2, h)
    x0, x1 = max(cx - int(w * cut) // 2, 0), min(cx + int(w * cut) // 2, w)
    box = torch.zeros(1, 1, h, w, dtype=torch.bool, device=images.device)
    box[..., y0:y1, x0:x1] = True
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return torch.where(box, images[perm], images), labels, labels[perm], lam


def mix_targets(y_a: Tensor, y_b: Tensor, lam: float, num_classes: int) -> Tensor:
    """Soft labels λ·onehot(y_a) + (1−λ)·onehot(y_b), N×K float."""
    one_a = F.one_hot(y_a, num_classes).float()
    one_b = F.one_hot(y_b, num_classes).float()
    return one_a * lam + one_b * (1 - lam)


# --- preview --------------------------------------------------------------------------------------

def augmentation_preview(images: Tensor, augment: BatchAugment, n: int = 8, rows: int = 3,
                         generator: torch.Generator | None = None) -> Tensor:
    """uint8 grid (3×H×W): ``n`` originals in the first row, ``rows`` augmented rows below."""
    originals = images[:n]
    labels = torch.zeros(len(originals), dtype=torch.long, device=images.device)
    augment = replace(augment, num_classes=augment.num_classes or 1)  # targets are not shown
    mean = torch.tensor(augment.mean, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(augment.std, device=images.device).view(1, -1, 1, 1)
    augmented = []
    for _ in range(rows):
        x, _ = augment(originals, labels, generator)
        augmented.append((x * std + mean).mul(255).round().clamp(0, 255).to(torch.uint8))
    tiles = torch.cat([originals, *augmented]).contiguous().cpu()
    return make_grid(tiles, nrow=len(originals), padding=2)


# --- randomness: drawn on the generator's device, used on the images' device ----------------------

def _device_of(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _uniform(generator: torch.Generator | None, n: int, low: float = 0.0, high: float = 1.0,
             device: torch.device | None = None) -> Tensor:
    u = torch.rand(n, generator=generator, device=_device_of(generator))
    return (u * (high - low) + low).to(device or u.device)


def _randint(generator: torch.Generator | None, low: int, high: int, n: int,
             device: torch.device) -> Tensor:
    r = torch.randint(low, high, (n,), generator=generator, device=_device_of(generator))
    return r.to(device)


def _randperm(generator: torch.Generator | None, n: int, device: torch.device) -> Tensor:
    return torch.randperm(n, generator=generator, device=_device_of(generator)).to(device)


def _beta(generator: torch.Generator | None, alpha: float) -> float:
    """One Beta(α, α) draw; torch's Beta takes no generator, so numpy's is seeded from it."""
    seed = int(_randint(generator, 0, 2**62, 1, torch.device("cpu")))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _memory_format(images: Tensor) -> torch.memory_format:
    channels_last = images.ndim == 4 and images.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if channels_last and not images.is_contiguous() else (
        torch.contiguous_format)
