"""Run name and tags: searchable pipeline/model/source, and the commit under MLflow's own tag."""

from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT

from deepvision.tracking import run_tags


def test_tags_name_the_pipeline_model_and_source(monkeypatch):
    monkeypatch.setattr(run_tags, "git_commit", lambda: "a" * 40)
    tags = run_tags.run_tags("train", {"ingest": {"source": "digits"}, "model": {"name": "lenet5"}})
    assert tags == {"pipeline": "train", "source": "digits", "model": "lenet5",
                    MLFLOW_GIT_COMMIT: "a" * 40}
    assert run_tags.run_name(tags) == "train · lenet5 · digits"


def test_outside_a_repository_there_is_no_commit_tag(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert run_tags.git_commit() is None
    tags = run_tags.run_tags("ingest", {})
    assert MLFLOW_GIT_COMMIT not in tags and run_tags.run_name(tags) == "ingest"
