"""REFERENCE, not project code: airbench94's CIFAR-10 recipe as one bare CPU script.

The recipe is Keller Jordan's airbench94 (github.com/KellerJordan/cifar10-airbench, airbench94.py,
MIT licence: 94.01% in 3.83 s on an A100). This is our own port for timing it on a CPU in fp32, the
way a user would run it there: the hard-coded ``.cuda().half()`` becomes fp32 on the CPU, CUDA
events become ``time.perf_counter``, torchvision's download becomes the uint8 tensors we are
handed. Everything else follows the original: the network, whitening from 5,000 training images,
decoupled lr / weight decay on a summed loss, 64x lr on batch-norm shifts, the triangular schedule,
Lookahead every 5 steps from epoch 3, alternating flips, 2-pixel translations, and flip +
translate test-time augmentation. ``make bench-cifar`` compares the project's fast recipe
(conf/fast_cifar10) with it.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

HYP = {
    "epochs": 9.9, "batch_size": 1024,
    "lr": 11.5, "momentum": 0.85, "weight_decay": 0.0153,  # per 1024 images, decoupled
    "bias_scaler": 64.0, "label_smoothing": 0.2,
    "ema_start_epochs": 3, "ema_decay_base": 0.95, "ema_decay_pow": 3.0, "ema_every": 5,
    "whiten_bias_epochs": 3, "whiten_kernel": 2, "whiten_images": 5000,
    "bn_momentum": 0.6, "widths": (64, 256, 256), "logit_scale": 1 / 9, "translate": 2,
}
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


class _BN(nn.BatchNorm2d):
    def __init__(self, c: int) -> None:
        super().__init__(c, eps=1e-12, momentum=1 - HYP["bn_momentum"])
        self.weight.requires_grad = False


def _conv3(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False)
    torch.nn.init.dirac_(conv.weight.data[:c_in])
    return conv


def make_net() -> nn.Sequential:
    k = HYP["whiten_kernel"]
    layers: list[nn.Module] = [nn.Conv2d(3, 2 * 3 * k * k, k, padding=0, bias=True), nn.GELU()]
    c = 2 * 3 * k * k
    for w in HYP["widths"]:
        layers += [_conv3(c, w), nn.MaxPool2d(2), _BN(w), nn.GELU(), _conv3(w, w), _BN(w),
                   nn.GELU()]
        c = w
    layers += [nn.MaxPool2d(3), nn.Flatten(), nn.Linear(c, 10, bias=False)]
    net = nn.Sequential(*layers)
    net[0].weight.requires_grad = False
    return net.to(memory_format=torch.channels_last)


def whiten(layer: nn.Conv2d, x: torch.Tensor, eps: float = 5e-4) -> None:
    c, (h, w) = x.shape[1], layer.weight.shape[2:]
    patches = x.unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c, h, w).float()
    flat = patches.view(len(patches), -1)
    evals, evecs = torch.linalg.eigh(flat.T @ flat / len(flat), UPLO="U")
    evals, evecs = evals.flip(0).view(-1, 1, 1, 1), evecs.T.reshape(c * h * w, c, h, w).flip(0)
    scaled = evecs / torch.sqrt(evals + eps)
    layer.weight.data[:] = torch.cat((scaled, -scaled))


def crop(padded: torch.Tensor, size: int) -> torch.Tensor:
    """Random translation: one random size×size window of each reflect-padded image."""
    r = (padded.shape[-1] - size) // 2
    shifts = torch.randint(-r, r + 1, (len(padded), 2))
    out = torch.empty((len(padded), padded.shape[1], size, size), dtype=padded.dtype)
    for sy in range(-r, r + 1):
        for sx in range(-r, r + 1):
            m = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
            out[m] = padded[m, :, r + sy:r + sy + size, r + sx:r + sx + size]
    return out


def tta_logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    def mirror(v: torch.Tensor) -> torch.Tensor:
        return 0.5 * net(v) + 0.5 * net(v.flip(-1))
    padded = F.pad(x, (1,) * 4, "reflect")
    shifted = [padded[:, :, 0:32, 0:32], padded[:, :, 2:34, 2:34]]
    return 0.5 * mirror(x) + 0.5 * torch.stack([mirror(s) for s in shifted]).mean(0)


def _normalise(x_uint8: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return ((x_uint8.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)


def run(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
        test_y: torch.Tensor, epochs: float | None = None, seed: int = 0) -> dict[str, float]:
    """Train and TTA-evaluate once; uint8 N×3×32×32 inputs. Timed like airbench: whitening,
    training and the final TTA evaluation (not the per-epoch logging evaluation, which is off)."""
    torch.manual_seed(seed)
    epochs = HYP["epochs"] if epochs is None else epochs
    bs, momentum = HYP["batch_size"], HYP["momentum"]
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    lr, wd = HYP["lr"] / kilostep, HYP["weight_decay"] * bs / kilostep
    lr_bias = lr * HYP["bias_scaler"]
    images, test_images = _normalise(train_x), _normalise(test_x)
    flipped = torch.where((torch.rand(len(images)) < 0.5).view(-1, 1, 1, 1), images.flip(-1),
                          images)
    padded = F.pad(flipped, (HYP["translate"],) * 4, "reflect")
    steps_per_epoch = len(images) // bs
    total = math.ceil(steps_per_epoch * epochs)
    peak, xs = int(0.23 * total), torch.arange(total + 1, dtype=torch.float64)
    schedule = torch.where(xs < peak, 0.2 + 0.8 * xs / max(peak, 1),
                           1 - 0.93 * (xs - peak) / max(total - peak, 1))
    start = time.perf_counter()
    net = make_net()
    whiten(net[0], images[:HYP["whiten_images"]])
    norm = [p for n, p in net.named_parameters() if p.requires_grad and _is_bn(net, n)]
    other = [p for n, p in net.named_parameters() if p.requires_grad and not _is_bn(net, n)]
    opt = torch.optim.SGD([{"params": norm, "lr": lr_bias, "weight_decay": wd / lr_bias},
                           {"params": other, "lr": lr, "weight_decay": wd / lr}],
                          momentum=momentum, nesterov=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: float(schedule[min(i, total)]))
    ema, step = None, 0
    for epoch in range(math.ceil(epochs)):
        net[0].bias.requires_grad = epoch < HYP["whiten_bias_epochs"]
        batch = crop(padded, 32)
        if epoch % 2 == 1:
            batch = batch.flip(-1)
        net.train()
        for idx in torch.randperm(len(batch))[:steps_per_epoch * bs].split(bs):
            out = net(batch[idx]) * HYP["logit_scale"]
            loss = F.cross_entropy(out, train_y[idx], label_smoothing=HYP["label_smoothing"],
                                   reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            ema = _lookahead(net, ema, epoch, step, total)
            if step >= total:
                break
        if ema is not None:
            _copy_back(net, ema, 1.0)
    net.eval()
    with torch.no_grad():
        logits = torch.cat([tta_logits(net, x) for x in test_images.split(2000)])
    seconds = time.perf_counter() - start
    return {"accuracy": (logits.argmax(1) == test_y).float().mean().item(), "seconds": seconds,
            "epochs": epochs, "steps": step}


def _is_bn(net: nn.Module, name: str) -> bool:
    return isinstance(net.get_submodule(name.rsplit(".", 1)[0]), nn.BatchNorm2d)


def _lookahead(net: nn.Module, ema: dict | None, epoch: int, step: int, total: int
               ) -> dict | None:
    if epoch < HYP["ema_start_epochs"] or step % HYP["ema_every"]:
        return ema
    if ema is None:
        return {k: v.clone() for k, v in net.state_dict().items()}
    rho = HYP["ema_decay_base"] ** HYP["ema_every"] * (step / total) ** HYP["ema_decay_pow"]
    _copy_back(net, ema, rho)
    return ema


def _copy_back(net: nn.Module, ema: dict, decay: float) -> None:
    for avg, p in zip(ema.values(), net.state_dict().values(), strict=True):
        if p.dtype.is_floating_point:
            avg.lerp_(p, 1 - decay)
            p.copy_(avg)
