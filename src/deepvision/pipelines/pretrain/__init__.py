"""``pretrain``: a backbone learned from the training split's images without their labels
(SimCLR or BYOL), tracked per epoch with a k-NN monitor; ``fine_tune`` takes the result."""

from deepvision.pipelines.pretrain.pipeline import create_pipeline

__all__ = ["create_pipeline"]
