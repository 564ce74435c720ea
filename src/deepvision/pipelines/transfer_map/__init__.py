"""``transfer_map``: the course's "how much data × how similar" table, measured on the user's own
prepared split — label fractions × transfer strategies (probe of the best stage, last stage, last
half, all), with a recommendation per fraction."""

from deepvision.pipelines.transfer_map.pipeline import create_pipeline

__all__ = ["create_pipeline"]
