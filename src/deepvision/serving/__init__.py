"""Using a trained model (pure torch, no Kedro or MLflow): its preprocessing read from the bundle,
batch prediction on files, bytes or arrays, model references, and ONNX export with parity."""

from deepvision.serving.export import (
    ExportConfig,
    check_parity,
    export_onnx,
    onnx_cost,
    onnx_parity,
)
from deepvision.serving.predict import (
    Labelled,
    PredictConfig,
    Predictor,
    image_files,
    label_files,
    progress_bar,
)
from deepvision.serving.preprocess import Preprocessing, preprocessing_meta
from deepvision.serving.reference import load_model, register_model_source

__all__ = ["ExportConfig", "Labelled", "PredictConfig", "Predictor", "Preprocessing",
           "check_parity",
           "export_onnx", "image_files", "label_files", "load_model", "onnx_cost", "onnx_parity",
           "preprocessing_meta", "progress_bar", "register_model_source"]
