"""Hyperparameter search (Optuna) around the one training loop; imports neither Kedro nor MLflow."""

from deepvision.tuning.plots import search_figures
from deepvision.tuning.search import (
    SearchResult,
    TrialReporter,
    TuneCallbacks,
    make_training_objective,
    open_study,
    run_search,
)
from deepvision.tuning.space import TuneConfig, apply_params, check_combinations, suggest

__all__ = ["SearchResult", "TrialReporter", "TuneCallbacks", "TuneConfig", "apply_params",
           "check_combinations", "make_training_objective", "open_study",
           "run_search", "search_figures", "suggest"]
