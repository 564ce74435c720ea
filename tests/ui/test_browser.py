"""The pipeline graph and the MLflow UI as a person sees them: served on 127.0.0.1 and rendered
by headless Chromium. Run with ``make test-ui``; the screenshots land in build/test-ui."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

pytestmark = [pytest.mark.ui, pytest.mark.timeout(180)]


def test_kedro_viz_draws_every_node_of_the_default_pipeline(shots, tmp_path, screenshots_dir):
    site = shots.viz_build(shots.make_project(tmp_path))
    expected = shots.viz_nodes_expected(site)
    assert {"split_dataset", "train_model"} <= expected

    with shots.static_site(site) as url, shots.Chromium() as browser:
        shots.shoot_viz(browser, url, screenshots_dir / "kedro-viz.png",
                        ("split_dataset", "train_model"))
        drawn = shots.viz_nodes_drawn(browser)

    assert expected <= drawn, f"not drawn: {sorted(expected - drawn)}"


def test_mlflow_ui_shows_the_run_with_its_metrics_and_params(shots, tracked, mlflow_url,
                                                           screenshots_dir):
    project, experiment_id, run_ids = tracked
    run = MlflowClient(f"sqlite:///{project / 'mlflow.db'}").get_run(run_ids[-1])
    url = shots.mlflow_run_url(mlflow_url, experiment_id, run.info.run_id)

    with shots.Chromium(window=(1400, 1100)) as browser:
        text = shots.shoot_mlflow(browser, url, screenshots_dir / "mlflow-run.png",
                                  (run.info.run_name, "test_accuracy"))

    for shown in (run.info.run_id, "Finished", "val_accuracy", "train.lr", "model.name"):
        assert shown in text


def test_mlflow_compare_view_shows_both_runs(shots, tracked, mlflow_url, screenshots_dir):
    _, experiment_id, run_ids = tracked
    url = shots.mlflow_compare_url(mlflow_url, experiment_id, run_ids)

    with shots.Chromium(window=(1400, 1100)) as browser:
        text = shots.shoot_mlflow(browser, url, screenshots_dir / "mlflow-compare.png",
                                  ("Comparing 2 Runs", "test_accuracy"))

    assert all(run_id in text for run_id in run_ids)
    assert "train.lr" in text
