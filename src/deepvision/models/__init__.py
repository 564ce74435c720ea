"""Pure-torch model zoo: architectures registered by name, heads, pretrained weight sources."""

from deepvision.models.heads import freeze, replace_head, unfreeze
from deepvision.models.registry import (
    ModelSpec,
    build_from_spec,
    check_model_name,
    create_model,
    list_models,
    register_model,
    register_models,
)
from deepvision.models.summary import count_macs, count_parameters, layer_summary, model_size_mb

__all__ = ["ModelSpec", "build_from_spec", "check_model_name", "count_macs", "count_parameters",
           "create_model", "freeze", "layer_summary", "list_models", "model_size_mb",
           "register_model", "register_models", "replace_head", "unfreeze"]
