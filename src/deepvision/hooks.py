"""Kedro hooks: every ``params:`` block a pipeline uses is validated before any node runs, so a
typo or an out-of-range value fails in a second, naming the key, instead of an hour into training."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

log = logging.getLogger(__name__)


def _validators() -> dict[str, Callable[[Any], Any]]:
    # Imported lazily: the hook is registered in settings.py, which Kedro imports early.
    from deepvision.pipelines import params

    return params.PARSERS


class ValidateParamsHook:
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        parsers = _validators()
        for name in sorted(pipeline.inputs()):
            key = name.removeprefix("params:")
            if name.startswith("params:") and key in parsers:
                parsers[key](catalog.load(name))
