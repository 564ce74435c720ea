"""The fast_cifar10 environment parses (every key known, every value in range) on top of base,
and switches on each airbench trick it promises."""

from pathlib import Path

import yaml

from deepvision.pipelines.params import PARSERS

CONF = Path(__file__).resolve().parents[2] / "conf"


def _merged(env: str) -> dict[str, dict]:
    params: dict[str, dict] = {}
    for folder in ("base", env):
        for path in sorted((CONF / folder).glob("parameters*.yml")):
            for key, block in (yaml.safe_load(path.read_text()) or {}).items():
                params.setdefault(key, {}).update(block)
    return params


def test_fast_cifar10_parses_and_turns_on_the_tricks():
    params = _merged("fast_cifar10")
    parsed = {key: PARSERS[key](block) for key, block in params.items() if key in PARSERS}
    train = parsed["train"]
    assert parsed["model"].name == "airbench94"  # whitening initialisation lives in the model
    assert train.label_smoothing > 0 and train.nesterov and train.schedule == "triangle"
    assert train.norm_lr_scale > 1
    assert train.ema_decay is not None and train.batch_size >= 512
    assert parsed["evaluate"].tta == "flip_translate"
    assert parsed["augment"].hflip and parsed["augment"].crop_padding > 0
