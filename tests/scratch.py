"""scripts/screenshots.py, loaded as a module: the end-to-end and browser tests make their scratch
projects with the same code that makes the README's images."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def screenshots_module() -> ModuleType:
    path = ROOT / "scripts" / "screenshots.py"
    spec = importlib.util.spec_from_file_location("screenshots", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_project = screenshots_module().make_project
