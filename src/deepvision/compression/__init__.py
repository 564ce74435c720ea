"""Making a trained network small and fast, in pure torch (+ ONNX Runtime and Torch-Pruning where
measured better): the challenge score, quantization, pruning, and the registry of compression
steps the ``compress`` pipeline runs in order."""

from deepvision.compression.score import ScoreParts, challenge_score, dense_counts, model_score

__all__ = ["ScoreParts", "challenge_score", "dense_counts", "model_score"]
