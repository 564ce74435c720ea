"""Terminal output: dependency warnings a user can do nothing about, silenced at their source."""

from __future__ import annotations

import warnings


def silence_dependency_warnings() -> None:
    """Warnings from dependencies that a user of this project can do nothing about, each matched
    by its own message and module, so every other warning still shows."""
    for message, module in (
        (r"register_new_resolver\(\) is deprecated", r"kedro.*"),
        (r".*Add type hints to the `predict` method", r"mlflow.*"),
    ):
        warnings.filterwarnings("ignore", message=message, category=UserWarning, module=module)
