"""Imports every architecture family so their ``@register_model`` decorators run."""

from deepvision.models import (  # noqa: F401
    airbench,
    densenet,
    lenet,
    preact_resnet,
    resnet_cifar,
    transfer_model,
    vgg,
)
