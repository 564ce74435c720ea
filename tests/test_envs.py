"""Every ready-made environment (conf/<env>: the course's labs) loads over conf/base and passes the
parameter parsers the validation hook runs before a pipeline starts — no training here."""

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from deepvision import settings
from deepvision.pipelines.params import PARSERS

CONF = Path(__file__).parents[1] / "conf"
ENVS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name not in ("base", "local"))


def _parameters(env: str) -> dict:
    loader = OmegaConfigLoader(str(CONF), env=env, **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"]


@pytest.mark.parametrize("env", ENVS)
def test_every_environment_validates(env, monkeypatch):
    # conf/team reads the database's address from the environment (`make team-env` exports it)
    for name, value in {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "deepvision"}.items():
        monkeypatch.setenv(name, value)
    params = _parameters(env)
    assert set(params) <= set(PARSERS), f"conf/{env}: blocks without a parser"
    for key, block in params.items():
        PARSERS[key](block)


@pytest.mark.parametrize("env", ["lab1", "project1"])
def test_a_lab_also_validates_on_a_local_folder_instead_of_the_download(env):
    ingest = _parameters(env)["ingest"]
    PARSERS["ingest"]({**ingest, "source": "folder", "root": "data/01_raw/cifar10-jpg",
                       "download": False})


def test_lab1_is_the_course_recipe():
    p = _parameters("lab1")
    split, train = PARSERS["split"](p["split"]), PARSERS["train"](p["train"])
    assert split.train_size == 15_000 and p["ingest"]["name"] == "CIFAR10"
    assert (train.optimizer, train.schedule) == ("sgd", "cosine")
    assert p["model"]["name"] == "resnet18"
    assert p["augment"]["hflip"] and p["augment"]["crop_padding"] == 4
    assert p["evaluate"] == _parameters("base")["evaluate"]  # untouched blocks come from base


def test_project1_studies_the_four_families():
    names = PARSERS["study"](_parameters("project1")["study"]).architectures
    assert {"resnet18", "preact_resnet18", "densenet_cifar", "vgg11_bn"} <= set(names)


def test_the_challenge_trains_on_cifar10_then_compresses_to_int8():
    p = _parameters("challenge")
    compress = PARSERS["compress"](p["compress"])
    assert p["ingest"]["name"] == "CIFAR10" and compress.steps[-1] == "quantize_int8"
    assert compress.steps[0] == "distill" and "prune_structured" in compress.steps
    assert compress.distill.student == "resnet20" and p["model"]["name"] == "resnet32"
