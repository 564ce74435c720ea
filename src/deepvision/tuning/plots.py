"""Figures of a search (its Optuna study, via ``optuna.visualization``, in plotly); the caller
saves them as HTML."""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.trial import TrialState

log = logging.getLogger(__name__)


def search_figures(study: optuna.Study) -> dict[str, Any]:
    """Optimisation history, parallel coordinates and, when they mean something, parameter
    importances; an empty dict if plotly is missing."""
    vis = optuna.visualization
    if not vis.is_available():
        log.warning("plotly is not installed; no study figures are drawn.")
        return {}
    figures = {"optimization_history": vis.plot_optimization_history(study),
               "parallel_coordinate": vis.plot_parallel_coordinate(study)}
    if _importances_defined(study):
        figures["param_importances"] = vis.plot_param_importances(study)
    else:
        log.info("Parameter importances skipped: they need 2 completed trials and a parameter "
                 "that varies among them.")
    return figures


def _importances_defined(study: optuna.Study) -> bool:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return False
    names = {name for t in complete for name in t.params}
    return any(len({repr(t.params.get(name)) for t in complete}) > 1 for name in names)
