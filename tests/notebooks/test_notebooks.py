"""notebooks/use_your_model.ipynb runs headless, cell by cell, on conf/test after two tiny
training runs in a scratch project; any cell error fails the test."""

from __future__ import annotations

import os
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from tests.scratch import ROOT, load_script, make_project

scratch = load_script("scratch_project")


@pytest.mark.slow
def test_the_example_notebook_runs_without_a_cell_error(tmp_path, monkeypatch):
    project = make_project(tmp_path)
    scratch.kedro(project, "run", "--env", "test", "--pipelines", "ingest,prepare,build,train")
    scratch.kedro(project, "run", "--env", "test", "--pipelines", "train",
                  "--params", "train.lr=0.01")
    shutil.copytree(ROOT / "notebooks", project / "notebooks")
    notebook = nbformat.read(project / "notebooks" / "use_your_model.ipynb", as_version=4)
    monkeypatch.setenv("KEDRO_ENV", "test")
    for key, value in scratch.QUIET_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(project / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert "runs compared: 2" in printed
    assert os.path.isdir(project / "data" / "06_models" / "trained_model.pt")
