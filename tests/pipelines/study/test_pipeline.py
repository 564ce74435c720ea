"""The ``study`` pipeline with two tiny models on an in-memory catalog, its namespaces, and the
list of architectures it is built from."""

import shutil
from pathlib import Path

import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset
from matplotlib.figure import Figure

from deepvision.config import ConfigError
from deepvision.pipelines.study import create_pipeline
from deepvision.pipelines.study.nodes import TABLE_COLUMNS
from deepvision.pipelines.study.pipeline import configured_architectures
from tests.synthetic import tiny_params, tiny_splits

ROOT = Path(__file__).resolve().parents[3]
ARCHITECTURES = ["lenet5", "resnet20"]


def study_catalog(architectures: list[str], tmp_path: Path) -> DataCatalog:
    train, val, test = tiny_splits()
    params = tiny_params()
    # The report as in the catalog (a CSV file): an intermediate MemoryDataset is released.
    catalog = DataCatalog({"study_report": CSVDataset(filepath=str(tmp_path / "study.csv"),
                                                      save_args={"index": False})})
    for name, value in {"train_split": train, "val_split": val, "test_split": test,
                        "params:study": {"architectures": architectures,
                                         "train": {"epochs": 1}},
                        "params:train": params["train"], "params:augment": params["augment"],
                        "params:evaluate": params["evaluate"], "params:data": {}}.items():
        catalog[name] = value
    return catalog


def test_study_trains_every_architecture_and_reports_one_row_each(tmp_path):
    catalog = study_catalog(ARCHITECTURES, tmp_path)
    outputs = SequentialRunner().run(create_pipeline(ARCHITECTURES), catalog)

    table = catalog.load("study_report")
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table["architecture"]) == ARCHITECTURES
    assert table["parameters"].iloc[0] < table["parameters"].iloc[1]  # lenet5 < resnet20
    assert table[["macs", "train_seconds", "latency_ms_batch1"]].gt(0).all().all()

    markdown = outputs["study_report_md"].load()
    assert markdown.startswith("# Architecture study")
    assert all(f"| {a}" in markdown for a in ARCHITECTURES)
    runs = outputs["study_child_runs"].load()
    assert list(runs) == ARCHITECTURES
    lenet = runs["lenet5"]
    assert lenet["params"]["model.name"] == "lenet5" and lenet["params"]["train.epochs"] == 1
    assert lenet["params"]["train.run_name"] == "train-lenet5"
    assert lenet["tags"] == {"architecture": "lenet5"}
    assert {"test_accuracy", "macs", "latency_ms_batch1", "train_seconds"} <= set(lenet["metrics"])
    assert len(lenet["curves"]["val_accuracy"]) == 1  # the budget's one epoch, not train's two
    for name in ("pareto_parameters", "pareto_macs", "pareto_train_time"):
        assert isinstance(outputs[name].load(), Figure)


def test_each_architecture_is_a_namespace_on_the_shared_splits():
    pipe = create_pipeline(ARCHITECTURES)
    assert pipe.inputs() == {"train_split", "val_split", "test_split", "params:study",
                             "params:train", "params:augment", "params:evaluate",
                             "params:data"}
    namespaces = {n.namespace for n in pipe.nodes if n.namespace}
    assert namespaces == set(ARCHITECTURES)
    for arch in ARCHITECTURES:
        names = {n.name for n in pipe.nodes if n.namespace == arch}
        assert {f"{arch}.build_model", f"{arch}.train_model", f"{arch}.evaluate_test",
                f"{arch}.measure_cost"} <= names


def test_a_list_changed_after_registration_fails_before_training(tmp_path):
    catalog = study_catalog(["lenet5"], tmp_path)
    with pytest.raises(ConfigError, match=r"built for \['lenet5', 'resnet20'\]"):
        SequentialRunner().run(create_pipeline(ARCHITECTURES), catalog)


def test_the_list_is_read_from_the_project_configuration(tmp_path, monkeypatch):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "conf" / "base" / "parameters_study.yml").write_text(
        "study:\n  architectures: [resnet20, lenet5]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    assert configured_architectures() == ["resnet20", "lenet5"]
    assert {n.namespace for n in create_pipeline().nodes} - {None} == {"resnet20", "lenet5"}
