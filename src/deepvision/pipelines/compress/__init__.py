"""``compress``: a trained model through pruning, fine-tuning and quantization steps, every stage
scored by the course's challenge metric."""

from deepvision.pipelines.compress.pipeline import create_pipeline

__all__ = ["create_pipeline"]
