"""Versioned Kedro datasets for ``ImageSet`` splits and models, stored with ``torch.save`` and read
with ``torch.load(weights_only=True)``: a file from elsewhere can never run code on load."""

from __future__ import annotations

import io
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
import torch
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)
from torch import nn

from deepvision.data.imageset import ImageSet
from deepvision.models.bundle import bundle_to_dict, model_from_bundle


class _BinaryFileDataset(AbstractVersionedDataset):
    """A versioned file on any fsspec filesystem, written whole from the bytes ``_to_bytes``
    makes and read back through ``_from_bytes``."""

    def __init__(self, *, filepath: str, version: Version | None = None,
                 credentials: dict[str, Any] | None = None, fs_args: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        fs_args = deepcopy(fs_args) or {}
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol == "file":
            fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **fs_args)
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version,
                         exists_function=self._fs.exists, glob_function=self._fs.glob)

    def _to_bytes(self, data: Any) -> bytes:
        raise NotImplementedError

    def _from_bytes(self, data: bytes) -> Any:
        raise NotImplementedError

    def load(self) -> Any:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, "rb") as f:
            return self._from_bytes(f.read())

    def save(self, data: Any) -> None:
        path = get_filepath_str(self._get_save_path(), self._protocol)
        payload = self._to_bytes(data)
        with self._fs.open(path, "wb") as f:
            f.write(payload)
        self._invalidate_cache()

    def _exists(self) -> bool:
        try:
            path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(path)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def _release(self) -> None:
        super()._release()
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))


class _TorchFileDataset(_BinaryFileDataset):
    """A versioned file holding one ``torch.save``-d dict of tensors and plain data."""

    def _encode(self, data: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _decode(self, payload: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _to_bytes(self, data: Any) -> bytes:
        buffer = io.BytesIO()
        torch.save(self._encode(data), buffer)
        return buffer.getvalue()

    def _from_bytes(self, data: bytes) -> Any:
        return self._decode(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))


class OnnxModelDataset(_BinaryFileDataset):
    """An ONNX model as the serialised bytes ``deepvision.serving.export_onnx`` returns (load it
    with ``onnxruntime.InferenceSession(data)``); nothing is executed on load."""

    def _to_bytes(self, data: bytes) -> bytes:
        return bytes(data)

    def _from_bytes(self, data: bytes) -> bytes:
        return data


class ImageSetDataset(_TorchFileDataset):
    """An ``ImageSet`` (uint8 images, labels, class names, normalisation statistics)."""

    def _encode(self, data: ImageSet) -> dict[str, Any]:
        return data.to_dict()

    def _decode(self, payload: dict[str, Any]) -> ImageSet:
        return ImageSet.from_dict(payload)


class ModelDataset(_TorchFileDataset):
    """A model as registry name + arguments + state dict (+ ``model.meta``); loads rebuilt."""

    def _encode(self, data: nn.Module) -> dict[str, Any]:
        return bundle_to_dict(data, getattr(data, "meta", None))

    def _decode(self, payload: dict[str, Any]) -> nn.Module:
        model, meta = model_from_bundle(payload)
        model.meta = meta
        return model


class ModelBundlesDataset(_TorchFileDataset):
    """Several models in one file, by name (the stages of ``compress``): a dict of bundles."""

    def _encode(self, data: dict[str, nn.Module]) -> dict[str, Any]:
        return {name: bundle_to_dict(m, getattr(m, "meta", None)) for name, m in data.items()}

    def _decode(self, payload: dict[str, Any]) -> dict[str, nn.Module]:
        models = {}
        for name, bundle in payload.items():
            models[name], models[name].meta = model_from_bundle(bundle)
        return models
