"""A dataset wrapper that keeps what is saved in memory instead of writing it."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset


class MemoryOnSave(AbstractDataset):
    """Loads from the wrapped dataset until something is saved; then serves that, in memory
    (the torchrun rank guard wraps every dataset with it on ranks > 0)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self._data, self._saved = inner, None, False

    def load(self) -> Any:
        return self._data if self._saved else self.inner.load()

    def save(self, data: Any) -> None:
        self._data, self._saved = data, True

    def _exists(self) -> bool:
        return self._saved or self.inner.exists()

    def _describe(self) -> dict[str, Any]:
        return {"wraps": type(self.inner).__name__}
