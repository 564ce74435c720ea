"""The ``compress`` pipeline on an in-memory catalog, its parameters and bad input."""

from pathlib import Path

import pytest
import torch
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset
from matplotlib.figure import Figure

from deepvision.compression.steps import CompressConfig
from deepvision.config import ConfigError, to_dict
from deepvision.data.imageset import ImageSet
from deepvision.io import ModelBundlesDataset
from deepvision.pipelines.compress import create_pipeline
from deepvision.pipelines.compress.nodes import compress_stages
from deepvision.pipelines.params import PARSERS
from tests.synthetic import tiny_model, tiny_params, tiny_splits

YAML = Path(__file__).parents[3] / "conf" / "base" / "parameters_compress.yml"


def _catalog(tmp_path: Path, compress: dict) -> DataCatalog:
    train, val, test = tiny_splits()
    params = tiny_params()
    catalog = DataCatalog({
        "trained_model": MemoryDataset(copy_mode="assign"),
        # as in the catalog (a file): an intermediate MemoryDataset is released after use
        "compression_comparison": CSVDataset(filepath=str(tmp_path / "comparison.csv")),
        "compression_stages": ModelBundlesDataset(filepath=str(tmp_path / "stages.pt"))})
    catalog["trained_model"] = tiny_model(train, "resnet20")
    for name, value in {"train_split": train, "val_split": val, "test_split": test,
                        "params:train": {**params["train"], "epochs": 1},
                        "params:augment": {}, "params:evaluate": params["evaluate"],
                        "params:compress": compress}.items():
        catalog[name] = value
    return catalog


def test_compress_pipeline_reports_every_stage_and_saves_loadable_bundles(tmp_path):
    steps = ["prune_structured", "fine_tune", "prune_unstructured", "quantize_int8"]
    compress = {"steps": steps, "sparsity": 0.5, "rounds": 1, "calibration_images": 16}
    catalog = _catalog(tmp_path, compress)
    outputs = SequentialRunner().run(create_pipeline(), catalog)

    table = catalog.load("compression_comparison")
    assert list(table["stage"]) == [f"{i:02d}_{s}" for i, s in enumerate(["uncompressed", *steps])]
    first, pruned, last = table.iloc[0], table.iloc[1], table.iloc[-1]
    assert pruned["macs"] < 0.5 * first["macs"] and pruned["p_s"] > 0.5
    assert table.iloc[3]["p_u"] > 0 and last["q_w"] < 9 and first["q_w"] == 32
    assert list(table["challenge_score"]) == sorted(table["challenge_score"], reverse=True)
    assert outputs["compression_metrics"].load()["00_uncompressed.challenge_score"]["value"] == (
        pytest.approx(first["challenge_score"]))
    assert isinstance(outputs["compression_pareto_plot"].load(), Figure)

    stages = catalog.load("compression_stages")  # written to disk, read back weights-only
    x = torch.rand(4, 1, 8, 8)
    final = outputs["compressed_model"].load()
    assert torch.allclose(stages[max(stages)](x), final(x), atol=1e-5)


def test_parameters_yaml_matches_the_dataclass_defaults():
    assert yaml.safe_load(YAML.read_text())["compress"] == to_dict(CompressConfig())


@pytest.mark.parametrize(("compress", "message"), [
    ({"sparsity": 1.0}, r"sparsity=1.0 is out of range.*\[0, 1\)"),
    ({"structured_ratio": -0.1}, r"structured_ratio=-0.1 is out of range"),
    ({"steps": ["prune", "fine_tune"]}, r"unknown compression step\(s\) 'prune'.*known steps: "
                                        r"binary_connect, distill, factorize, fine_tune"),
    ({"steps": ["quantize_int8", "fine_tune"]}, r"'quantize_int8' must be the last step"),
])
def test_bad_parameters_fail_before_the_run(compress, message):
    with pytest.raises(ConfigError, match=message):
        PARSERS["compress"](compress)


def test_int8_without_calibration_images_fails_at_once():
    train, val, _ = tiny_splits()
    empty = ImageSet(train.images[:0], train.labels[:0], train.class_names, train.mean, train.std)
    with pytest.raises(ValueError, match="int8 needs calibration images"):
        compress_stages(tiny_model(train, "resnet20"), empty, val, {"steps": ["quantize_int8"]},
                        tiny_params()["train"], {})


def test_factorize_and_distill_steps_report_their_stages_and_reload(tmp_path):
    steps = ["factorize", "fine_tune", "distill"]
    compress = {"steps": steps, "factorize": {"ratio": 0.5},
                "distill": {"student": "lenet5", "train": {"epochs": 1}}}
    catalog = _catalog(tmp_path, compress)
    SequentialRunner().run(create_pipeline(), catalog)
    table = catalog.load("compression_comparison")
    assert list(table["stage"]) == ["00_uncompressed", "01_factorize", "02_fine_tune",
                                    "03_student_alone", "04_distill"]
    assert table.iloc[1]["parameters"] < table.iloc[0]["parameters"]
    assert table.iloc[3]["parameters"] == table.iloc[4]["parameters"]  # the same student
    stages = catalog.load("compression_stages")  # the factorized structure rebuilt from meta
    x = torch.rand(2, 1, 8, 8)
    assert stages["01_factorize"](x).shape == (2, 3)
