"""Markdown tables and Pareto-front flags on hand-checkable rows."""

import math

from deepvision.reporting.tables import pareto_front, to_markdown


def test_to_markdown_aligns_numbers_and_shares_decimals():
    rows = [{"model": "resnet20", "accuracy": 0.91234, "parameters": 272_474, "pareto": True},
            {"model": "lenet", "accuracy": 1.0, "parameters": 61_706, "pareto": False}]
    assert to_markdown(rows) == (
        "| model    | accuracy | parameters | pareto |\n"
        "|----------|---------:|-----------:|--------|\n"
        "| resnet20 |   0.9123 |    272,474 | True   |\n"
        "| lenet    |   1.0000 |     61,706 | False  |\n")


def test_to_markdown_missing_values_escaping_and_large_floats():
    rows = [{"name": "a|b", "images_per_s": 23_456.7}, {"name": "c", "note": "two\nlines"}]
    lines = to_markdown(rows).splitlines()
    assert lines[0] == "| name | images_per_s | note      |"
    assert lines[2] == "| a\\|b |       23,457 |           |"
    assert lines[3] == "| c    |              | two lines |"


def test_to_markdown_small_values_keep_four_significant_digits():
    table = to_markdown([{"lr": 3e-4}, {"lr": 1.25e-4}, {"lr": math.nan}])
    assert "0.000300" in table and "0.000125" in table and "nan" in table


def test_to_markdown_no_rows():
    assert to_markdown([]) == ""


def test_pareto_front_minimises_x_maximises_y():
    rows = [{"x": 1, "y": 0.90}, {"x": 2, "y": 0.95}, {"x": 3, "y": 0.93},  # 3 is dominated by 2
            {"x": 2, "y": 0.95},                                           # a tie stays on it
            {"x": 5, "y": 0.99}, {"x": 5, "y": 0.98}, {"x": 0.5, "y": math.nan}]
    assert pareto_front(rows, "x", "y") == [True, True, False, True, True, False, False]


def test_pareto_front_empty():
    assert pareto_front([], "x", "y") == []
