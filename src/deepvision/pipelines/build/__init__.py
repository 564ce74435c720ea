"""``build``: the architecture named in ``params:model``, sized to the data, with its model card."""

from deepvision.pipelines.build.pipeline import create_pipeline

__all__ = ["create_pipeline"]
