"""Read a legacy (non-zip) PyTorch ``.pth`` state dict with ``pickle`` + ``numpy``, without torch
(the offline ImageNet weights ship so): pickles of a magic number, the protocol version, system
facts, the object and its storage keys, then each storage's bytes after its int64 element count.
"""

import collections
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from helpers.errors import InputError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
BAD_FILE = (pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError, AttributeError)
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}  # fmt: skip


class _Storage:
    """A storage named in the object pickle; its bytes come later in the file."""

    def __init__(self, dtype, numel: int):
        self.dtype, self.numel, self.data = np.dtype(dtype), numel, None


class _Tensor:
    """A tensor waiting for its storage's bytes: a strided view, made real by :func:`_realise`."""

    def __init__(self, storage: _Storage, offset: int, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), stride

    def array(self) -> np.ndarray:
        flat = self.storage.data
        if not self.shape:
            return flat[self.offset].copy()
        strides = tuple(s * flat.itemsize for s in self.stride)
        return np.ascontiguousarray(
            np.lib.stride_tricks.as_strided(flat[self.offset :], self.shape, strides)
        )


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    return _Tensor(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Only what a state dict needs: tensors, storages and ordered dicts; anything else (a
    ``__reduce__`` calling ``os.system``) is refused before it is looked up, in every pickle."""

    def __init__(self, handle: BinaryIO, storages: dict[str, _Storage]):
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in {"_rebuild_tensor", "_rebuild_tensor_v2"}:
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} (only tensors are read)")

    def persistent_load(self, saved_id):
        kind, dtype, key, _location, numel, *_view = saved_id
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        return self.storages.setdefault(key, _Storage(dtype, int(numel)))


def _realise(obj: Any) -> Any:
    if isinstance(obj, _Tensor):
        return obj.array()
    if isinstance(obj, dict):
        return type(obj)((k, _realise(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return type(obj)(_realise(v) for v in obj)
    return obj


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """A legacy ``torch.save`` state dict as ``{name: numpy array}``, or an InputError."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return _read(handle)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except BAD_FILE as err:
        raise InputError(path, f"not a legacy PyTorch state dict ({err})") from None


def _read(handle: BinaryIO) -> dict[str, np.ndarray]:
    if handle.read(2) == b"PK":
        raise ValueError("a zip-format torch file (new serialisation); only the legacy one is read")
    handle.seek(0)
    storages: dict[str, _Storage] = {}
    load = _Unpickler(handle, storages).load  # every pickle in the file, never plain pickle.load
    if load() != MAGIC_NUMBER:
        raise ValueError("no torch magic number")
    if load() != PROTOCOL_VERSION:
        raise ValueError("unknown torch protocol version")
    if not load().get("little_endian", True):
        raise ValueError("a big-endian file")
    state = load()
    for key in load():
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
