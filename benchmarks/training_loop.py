"""The project's training loop against a bare hand-written PyTorch loop.

Same model, batch, data, thread count and memory format; the two are interleaved in one process
(A B A B ...) so that machine noise hits both alike. Reported: images/s of each and their ratio.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
import torch.nn.functional as F

from deepvision.engine import TrainConfig, fit
from deepvision.models import create_model


def bare_loop(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
              lr: float) -> None:
    """What a user would write by hand: shuffle, float, forward, loss, backward, step."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    model.train()
    order = torch.randperm(len(x))
    for step in range(len(x) // batch_size):
        idx = order[step * batch_size:(step + 1) * batch_size]
        inputs = (x[idx].float() / 255).contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(inputs), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def compare(name: str, image_size: int, n_images: int, batch_size: int, rounds: int = 3,
            ) -> dict[str, float]:
    torch.manual_seed(0)
    x = torch.randint(0, 256, (n_images, 3, image_size, image_size), dtype=torch.uint8)
    y = torch.randint(0, 10, (n_images,))
    model = create_model(name, 10, 3).to(memory_format=torch.channels_last)
    cfg = TrainConfig(epochs=1, batch_size=batch_size, lr=0.01, warmup_epochs=0,
                      schedule="constant", checkpoint_dir=None, progress="off")
    images = (n_images // batch_size) * batch_size
    # Warm both up (allocator, thread pool, first-call dispatch) before anything is timed.
    fit(model, (x[: 2 * batch_size], y[: 2 * batch_size]), None, cfg)
    bare_loop(copy.deepcopy(model), x[: 2 * batch_size], y[: 2 * batch_size], batch_size, 0.01)
    engine_rates, bare_rates = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        fit(model, (x, y), None, cfg)
        engine_rates.append(images / (time.perf_counter() - start))
        start = time.perf_counter()
        bare_loop(copy.deepcopy(model), x, y, batch_size, 0.01)
        bare_rates.append(images / (time.perf_counter() - start))
    engine, bare = statistics.median(engine_rates), statistics.median(bare_rates)
    return {"model": name, "image_size": image_size, "batch_size": batch_size,
            "threads": torch.get_num_threads(), "engine_images_per_s": round(engine, 1),
            "bare_images_per_s": round(bare, 1), "ratio": round(engine / bare, 3)}
