from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from deepvision.engine import NonFiniteLossError, TrainHooks, fit
from deepvision.engine import checkpoint as ckpt
from deepvision.engine.checkpoint import CheckpointMismatchError


def test_loss_falls_when_overfitting_one_batch(net, data, cfg):
    x, y = data[0][:16], data[1][:16]
    cfg = replace(cfg, epochs=40, schedule="constant", checkpoint_dir=None, weight_decay=0.0)
    result = fit(net, (x, y), None, cfg)
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < 0.2 * losses[0]
    assert result.history[-1]["train_accuracy"] == 1.0


def test_history_has_one_record_per_epoch_with_validation(net, data, cfg):
    x, y = data
    result = fit(net, (x, y), (x[:32], y[:32]), cfg)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                "epoch_seconds", "images_per_second"):
        assert all(key in r for r in result.history)
    assert result.best_epoch in (1, 2, 3)


def test_fit_does_not_modify_the_input_model(net, data, cfg):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fit(net, data, None, cfg)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_best_epoch_weights_are_returned(net, data, cfg):
    x, y = data
    result = fit(net, (x, y), (x, y), replace(cfg, epochs=4, lr=0.3))
    best = result.history[result.best_epoch - 1]["val_accuracy"]
    assert best == max(r["val_accuracy"] for r in result.history)
    # The returned weights reproduce the best epoch's validation accuracy.
    with torch.no_grad():
        acc = (result.model(x.float() / 255).argmax(1) == y).float().mean().item()
    assert acc == pytest.approx(best)


def test_early_stopping_stops(data, cfg):
    from tests.engine.conftest import TinyNet

    x, y = data
    # A tiny lr and no batch norm: accuracy never improves after epoch 1, so patience 2 stops
    # after epoch 3 of 10.
    cfg = replace(cfg, epochs=10, patience=2, schedule="constant", lr=1e-12)
    result = fit(TinyNet(norm=False), (x, y), (x, y), cfg)
    assert len(result.history) == 3
    assert result.best_epoch == 1


def test_same_seed_gives_identical_histories(data, cfg):
    from tests.engine.conftest import TinyNet

    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        result = fit(TinyNet(), data, data, replace(cfg, checkpoint_dir=None))
        runs.append([{k: v for k, v in r.items() if k not in ("epoch_seconds", "val_seconds",
                                                             "images_per_second")}
                     for r in result.history])
    assert runs[0] == runs[1]


def test_non_finite_loss_names_epoch_and_step_and_keeps_checkpoint(net, data, cfg, tmp_path):
    calls = {"n": 0}

    def loss_fn(logits, target):
        calls["n"] += 1
        loss = F.cross_entropy(logits, target)
        return loss * float("nan") if calls["n"] == 6 + 3 else loss  # epoch 2, step 3

    with pytest.raises(NonFiniteLossError, match="epoch 2, step 3"):
        fit(net, data, None, cfg, TrainHooks(loss_fn=loss_fn))
    saved = ckpt.load(tmp_path / "ckpt" / "t.pt")
    assert saved["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())


def test_resume_continues_and_refuses_other_config(net, data, cfg):
    fit(net, data, None, replace(cfg, epochs=3))
    # Asking for the same run again resumes: the finished run is returned without more epochs.
    done = fit(net, data, None, replace(cfg, epochs=3, resume=True))
    assert [r["epoch"] for r in done.history] == [1, 2, 3]
    with pytest.raises(CheckpointMismatchError, match=r"lr: 0\.05 → 0\.01"):
        fit(net, data, None, replace(cfg, lr=0.01, resume=True))


def test_two_gloo_processes_match_one_process_with_the_doubled_batch(data, cfg):
    from tests.engine.conftest import TinyNet

    torch.manual_seed(0)
    model = TinyNet(norm=False)  # no batch norm: per-rank statistics would differ
    # fp32: bf16 rounding of a 16-image batch and of two 8-image halves would differ.
    base = replace(cfg, epochs=2, checkpoint_dir=None, threads=1, momentum=0.0, precision="fp32")
    single = fit(model, data, None, replace(base, batch_size=16))
    parallel = fit(model, data, None, replace(base, batch_size=8, devices=2))
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(parallel.model.state_dict()[k], v, rtol=1e-4, atol=1e-5)
    assert [r["train_loss"] for r in parallel.history] == pytest.approx(
        [r["train_loss"] for r in single.history], rel=1e-4)


def test_objective_replaces_forward_and_loss_and_may_omit_logits(net, data, cfg):
    calls = []

    def objective(model, inputs, target):
        calls.append(len(inputs))
        return F.cross_entropy(model(inputs), target), None

    hooks = TrainHooks(objective=objective)
    result = fit(net, data, None, replace(cfg, checkpoint_dir=None), hooks)
    assert len(calls) == 3 * (len(data[0]) // cfg.batch_size)
    assert all("train_accuracy" not in r for r in result.history)
    assert all(r["train_loss"] > 0 for r in result.history)


def test_after_step_runs_on_the_trained_model_after_every_step(net, data, cfg):
    def clip(model):  # BinaryConnect-style: keep every weight in [-0.01, 0.01]
        with torch.no_grad():
            for p in model.parameters():
                p.clamp_(-0.01, 0.01)

    result = fit(net, data, None, replace(cfg, checkpoint_dir=None), TrainHooks(after_step=clip))
    assert max(p.abs().max().item() for p in result.model.parameters()) <= 0.01


def test_a_train_transform_with_set_epoch_learns_each_epoch_before_its_batches(net, data, cfg):
    class Transform:
        def __init__(self):
            self.epoch, self.seen = 0, []

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __call__(self, x, y, generator):
            self.seen.append(self.epoch)
            return x.float() / 255, y

    transform = Transform()
    fit(net, data, None, replace(cfg, checkpoint_dir=None), TrainHooks(train_transform=transform))
    steps = len(data[0]) // cfg.batch_size
    assert transform.seen == [1] * steps + [2] * steps + [3] * steps


def test_validate_replaces_validation_and_picks_the_best_epoch(net, data, cfg):
    scores = iter([0.2, 0.9, 0.5])
    cfg = replace(cfg, checkpoint_dir=None, monitor="val_accuracy")
    result = fit(net, data, None, cfg, TrainHooks(validate=lambda m: {"accuracy": next(scores)}))
    assert [r["val_accuracy"] for r in result.history] == [0.2, 0.9, 0.5]
    assert result.best_epoch == 2


def test_batch_norm_statistics_are_averaged_so_the_ranks_end_alike(data, cfg):
    """DDP leaves each rank its own slice's running statistics after the last step; without the
    average the ranks' weights differ and ``fit`` refuses the result."""
    from tests.engine.conftest import TinyNet

    cfg = replace(cfg, epochs=1, checkpoint_dir=None, threads=1, batch_size=8, devices=2,
                  ema_decay=0.9)
    result = fit(TinyNet(norm=True), data, data, cfg)
    means = [v for k, v in result.model.state_dict().items() if k.endswith("running_mean")]
    assert means and all(torch.isfinite(m).all() for m in means)


def test_on_epoch_end_reaches_the_caller_from_spawned_ranks(data, cfg):
    from tests.engine.conftest import TinyNet

    seen = []
    cfg = replace(cfg, epochs=2, checkpoint_dir=None, threads=1, batch_size=8, devices=2)
    fit(TinyNet(norm=False), data, None, cfg, TrainHooks(on_epoch_end=seen.append))
    assert [r["epoch"] for r in seen] == [1, 2]


def test_an_error_in_on_epoch_end_stops_the_spawned_ranks(data, cfg):
    from tests.engine.conftest import TinyNet

    def stop(record):
        raise KeyboardInterrupt("pruned")

    cfg = replace(cfg, epochs=50, checkpoint_dir=None, threads=1, batch_size=8, devices=2)
    with pytest.raises(KeyboardInterrupt, match="pruned"):
        fit(TinyNet(norm=False), data, None, cfg, TrainHooks(on_epoch_end=stop))


def test_ema_warms_its_decay_up_then_reaches_it():
    from deepvision.engine.loop import ema_step

    avg, cur = [torch.zeros(3)], [torch.ones(3)]
    ema_step(avg, cur, torch.tensor(1), decay=0.999)  # n=1: decay 2/11, not 0.999
    torch.testing.assert_close(avg[0], torch.full((3,), 9 / 11))
    avg = [torch.zeros(3)]
    ema_step(avg, cur, torch.tensor(100_000), decay=0.999)  # late: the configured decay
    torch.testing.assert_close(avg[0], torch.full((3,), 0.001))
    steps = [torch.zeros(2, dtype=torch.long)]
    ema_step(steps, [torch.tensor([5, 7])], torch.tensor(3), decay=0.9)
    assert steps[0].tolist() == [5, 7]


def test_fit_with_ema_returns_the_averaged_model(net, data, cfg):
    result = fit(net, data, data, replace(cfg, ema_decay=0.9, epochs=2))
    assert result.history[-1]["val_accuracy"] >= 0
    assert not any(k.startswith("module.") for k in result.model.state_dict())
