"""``predict``: label every image under ``predict.input`` with a trained model, its preprocessing
read from the model bundle; versioned predictions.csv and a report of skipped files."""

from deepvision.pipelines.predict.pipeline import create_pipeline

__all__ = ["create_pipeline"]
