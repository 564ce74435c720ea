"""One source of defaults: every ``conf/base/parameters_<key>.yml`` lists each key of its dataclass
with the dataclass's default and a comment (unit, allowed values); ``conf/test`` only overrides
keys that exist."""

import re
from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from deepvision.config import to_dict
from deepvision.pipelines.params import PARSERS
from deepvision.settings import CONFIG_LOADER_ARGS

CONF = Path(__file__).parents[2] / "conf"
FILES = sorted((CONF / "base").glob("parameters_*.yml"))
KEY_LINE = re.compile(r"^ {2}(\w+):")  # a key of the block (two spaces in)


def _block(path: Path) -> tuple[str, dict]:
    [(key, block)] = yaml.safe_load(path.read_text()).items()
    return key, block


def test_every_top_level_key_has_one_file_named_after_it():
    keys = [_block(path)[0] for path in FILES]
    assert [f"parameters_{k}.yml" for k in keys] == [p.name for p in FILES]
    assert sorted(keys) == sorted(PARSERS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_yaml_is_the_dataclass_defaults_key_for_key(path):
    key, block = _block(path)
    defaults = to_dict(PARSERS[key]({}))
    assert block == defaults
    assert to_dict(PARSERS[key](block)) == defaults


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_key_says_its_unit_or_allowed_values(path):
    lines = path.read_text().splitlines()
    bare = [line for line in lines if KEY_LINE.match(line) and "#" not in line]
    assert bare == []


def test_the_test_environment_overrides_only_existing_keys():
    loader = OmegaConfigLoader(str(CONF), default_run_env="test", **{
        k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "default_run_env"})
    params = loader["parameters"]
    overridden = yaml.safe_load((CONF / "test" / "parameters.yml").read_text())
    assert set(overridden) <= set(PARSERS)
    for key in overridden:
        PARSERS[key](params[key])  # an unknown key raises, naming it
