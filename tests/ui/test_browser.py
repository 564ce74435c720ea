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

    with shots.static_site(site) as url, shots.Chromium() as browser, \
            browser.screenshot_at_end(screenshots_dir / "kedro-viz.png"):
        browser.open(url, ("split_dataset", "train_model"))
        drawn = shots.viz_nodes_drawn(browser)

    assert expected <= drawn, f"not drawn: {sorted(expected - drawn)}"


def test_mlflow_run_page_shows_the_run_its_params_and_metrics(shots, tracked, mlflow_url,
                                                              screenshots_dir):
    project, experiment_id, run_ids = tracked
    run = MlflowClient(f"sqlite:///{project / 'mlflow.db'}").get_run(run_ids[-1])
    url = shots.mlflow_run_url(mlflow_url, experiment_id, run.info.run_id)

    with shots.Chromium(window=(1400, 1100)) as browser, \
            browser.screenshot_at_end(screenshots_dir / "mlflow-run.png"):
        text = shots.open_mlflow(browser, url, (run.info.run_name, run.info.run_id, "Finished"))
        assert "train.lr" in text and "model.name" in text
        text = shots.search_metric(browser, "test_accuracy")

    value = run.data.metrics["test_accuracy"]
    assert str(value)[:6] in text, f"test_accuracy {value} is not on the page"


def test_mlflow_compare_view_shows_both_runs(shots, tracked, mlflow_url, screenshots_dir):
    project, experiment_id, run_ids = tracked
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    names = [client.get_run(run_id).info.run_name for run_id in run_ids]
    url = shots.mlflow_compare_url(mlflow_url, experiment_id, run_ids)

    with shots.Chromium(window=(1400, 1100)) as browser, \
            browser.screenshot_at_end(screenshots_dir / "mlflow-compare.png"):
        # train.lr: the one parameter the runs differ in, an axis of the parallel-coordinates plot
        text = shots.open_mlflow(browser, url, ("Comparing 2 Runs", "train.lr"))
        assert shots.plot_metric(browser, "test_accuracy")

    assert all(run_id in text for run_id in run_ids)
    assert all(name in text for name in names)
