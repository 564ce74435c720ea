"""Nodes of the ``ingest`` pipeline."""

from __future__ import annotations

from typing import Any

from deepvision.data.imageset import ImageSet
from deepvision.data.sources import load_source
from deepvision.pipelines.params import parse_ingest


def ingest_images(ingest: dict[str, Any]) -> tuple[ImageSet, ImageSet, dict[str, Any]]:
    """Read the source; an empty test set means the source has no official test split."""
    result = load_source(parse_ingest(ingest))
    test = result.test if result.test is not None else result.train.empty()
    return result.train, test, result.report
