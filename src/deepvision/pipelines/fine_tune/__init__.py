"""``fine_tune``: a pretrained backbone as linear probe and fine-tuned, against training from
scratch on the same labels, compared on the test split."""

from deepvision.pipelines.fine_tune.pipeline import create_pipeline

__all__ = ["create_pipeline"]
