"""Plain-text tables for reports: Markdown from a list of row dicts, and Pareto-front flags."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A GitHub-flavoured Markdown table, one column per key (in order of first appearance).

    Numeric columns are right-aligned. The floats of a column share one number of decimals, enough
    for 4 significant digits of its median magnitude (0 to 6), so their decimal points line up;
    numbers from 10,000 on get thousands separators. A missing value is an empty cell; no rows
    give "".
    """
    columns = list(dict.fromkeys(key for row in rows for key in row))
    if not columns:
        return ""
    decimals = [_decimals([row.get(c) for row in rows]) for c in columns]
    cells = [[_format(row.get(c), d) for c, d in zip(columns, decimals, strict=True)]
             for row in rows]
    numeric = [all(_is_number(row.get(c)) for row in rows if row.get(c) is not None)
               for c in columns]
    widths = [max(3, len(_escape(c)), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.rjust(w) if num else v.ljust(w)
                                 for v, w, num in zip(values, widths, numeric, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if num else "-" * (w + 2)
                          for w, num in zip(widths, numeric, strict=True)) + "|"
    return "\n".join([line([_escape(c) for c in columns]), rule, *map(line, cells)]) + "\n"


def pareto_front(rows: Sequence[dict[str, Any]], x_key: str, y_key: str) -> list[bool]:
    """For each row, whether no other row is at least as good on both ``x`` (lower is better) and
    ``y`` (higher is better) and strictly better on one. Equal rows are all on the front; a row
    with a NaN is never on it."""
    points = [(float(r[x_key]), float(r[y_key])) for r in rows]
    return [not (math.isnan(x) or math.isnan(y))
            and not any(xo <= x and yo >= y and (xo < x or yo > y) for xo, yo in points)
            for x, y in points]


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _decimals(values: Sequence[Any]) -> int:
    # The median, not the maximum: one perfect precision of 1.0 should not cost a metrics column
    # its fourth decimal.
    floats = [abs(float(v)) for v in values
              if _is_number(v) and not isinstance(v, Integral) and math.isfinite(v) and v != 0]
    if not floats:
        return 4
    return min(6, max(0, 3 - math.floor(math.log10(statistics.median(floats)))))


def _format(value: Any, decimals: int) -> str:
    if value is None:
        return ""
    if not _is_number(value):
        return _escape(str(value))
    if isinstance(value, Integral):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if not math.isfinite(value):
        return str(float(value))
    return f"{value:,.{decimals}f}" if abs(value) >= 10_000 else f"{value:.{decimals}f}"


def _escape(text: str) -> str:
    # A "|" inside a cell would end the cell; a newline would end the row.
    return str(text).replace("|", "\\|").replace("\n", " ")


def cheapest_within(rows: Sequence[dict[str, Any]], score_key: str, cost_keys: Sequence[str],
                    tolerance: float) -> dict[str, Any]:
    """The row with the lowest cost (``cost_keys`` compared in order) among those whose score is
    within ``tolerance`` of the best score; NaN scores never qualify."""
    scored = [r for r in rows if not math.isnan(float(r[score_key]))]
    if not scored:
        raise ValueError(f"no row has a {score_key}")
    best = max(float(r[score_key]) for r in scored)
    near = [r for r in scored if float(r[score_key]) >= best - tolerance - 1e-12]
    return min(near, key=lambda r: tuple(float(r[k]) for k in cost_keys))
