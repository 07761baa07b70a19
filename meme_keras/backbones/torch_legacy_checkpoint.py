"""Reads a PyTorch state dict (.pth) into numpy arrays, without torch and without running code.

Both of torch's formats are understood: the legacy one (a run of pickles followed by the raw
storages, what `torch.save` wrote before 1.6 and what EfficientNet-Lite0's weights use) and the
zip one (`<name>/data.pkl` plus one `<name>/data/<key>` member per storage).
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The legacy format opens with this magic number and protocol version (torch/serialization.py).
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype


@dataclass
class _Storage:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it; its storage's bytes come later in the file."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_ignored):
    # requires_grad, backward hooks and metadata do not matter for inference weights.
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("tensor without a storage")
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_ignored):
    return data


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only the handful of globals a state dict needs, so no arbitrary code runs."""

    def __init__(self, file, storages: dict[str, _Storage]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected storage type {storage_type!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views (torch < 0.4 files) are not supported")
        storage = self._storages.setdefault(key, _Storage(key, storage_type.dtype, numel))
        return storage


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _load_plain(file):
    return _NoGlobalsUnpickler(file).load()


def _to_array(ref: _TensorRef) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise ValueError(f"storage {ref.storage.key} has no data")
    if any(n < 0 for n in ref.shape) or any(s < 0 for s in ref.stride) or ref.offset < 0:
        raise ValueError(f"negative shape, stride or offset in a tensor of {ref.storage.key}")
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride, strict=True))
    if 0 not in ref.shape and last >= data.size:
        raise ValueError(f"tensor reaches past the end of storage {ref.storage.key}")
    view = np.lib.stride_tricks.as_strided(
        data[ref.offset :],
        shape=ref.shape,
        strides=tuple(s * data.itemsize for s in ref.stride),
        writeable=False,
    )
    # A copy in native byte order, detached from the file buffer.
    return np.ascontiguousarray(view, dtype=data.dtype.newbyteorder("="))


def _to_arrays(state_dict) -> dict[str, np.ndarray]:
    if not isinstance(state_dict, dict):
        raise ValueError(f"expected a state dict, found {type(state_dict).__name__}")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(value, _TensorRef):
            raise ValueError(f"entry {name!r} is not a tensor")
        arrays[str(name)] = _to_array(value)
    return arrays


def _read_legacy(file) -> dict[str, np.ndarray]:
    file_size = os.fstat(file.fileno()).st_size
    if _load_plain(file) != _LEGACY_MAGIC:
        raise ValueError("not a PyTorch checkpoint (bad magic number)")
    if _load_plain(file) != _LEGACY_PROTOCOL:
        raise ValueError("unsupported legacy protocol version")
    sys_info = _load_plain(file)
    if not (isinstance(sys_info, dict) and sys_info.get("little_endian", False)):
        raise ValueError("only little-endian checkpoints are supported")
    storages: dict[str, _Storage] = {}
    state_dict = _StateDictUnpickler(file, storages).load()
    keys = _load_plain(file)
    if not isinstance(keys, list):
        raise ValueError("storage key list missing")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise ValueError(f"storage {key} is listed but no tensor uses it")
        header = file.read(8)
        if len(header) != 8:
            raise ValueError(f"file ends before storage {key}")
        (numel,) = struct.unpack("<q", header)
        if numel < 0 or numel != storage.numel:
            raise ValueError(f"storage {key} holds {numel} elements, expected {storage.numel}")
        nbytes = numel * storage.dtype.itemsize
        # Checked before reading so a corrupt count cannot ask for gigabytes.
        if nbytes > file_size - file.tell():
            raise ValueError(f"file ends inside storage {key}")
        raw = file.read(nbytes)
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _to_arrays(state_dict)


def _read_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError("zip checkpoint without exactly one data.pkl")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = f"{prefix}byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise ValueError("only little-endian checkpoints are supported")
        storages: dict[str, _Storage] = {}
        unpickler = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), storages)
        state_dict = unpickler.load()
        for storage in storages.values():
            raw = archive.read(f"{prefix}data/{storage.key}")
            if len(raw) < storage.numel * storage.dtype.itemsize:
                raise ValueError(
                    f"storage {storage.key} is shorter than its {storage.numel} elements"
                )
            storage.data = np.frombuffer(raw, dtype=storage.dtype, count=storage.numel)
    return _to_arrays(state_dict)


def read_torch_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Reads a PyTorch state dict file into `{name: array}`, in the file's order.

    Only tensors of the standard dtypes (not bfloat16) are understood. Anything else, including
    a truncated or corrupt file, raises `ValueError` naming the file.

    Args:
        path: a `.pth` / `.pt` file written by `torch.save(model.state_dict(), path)`.
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        with open(path, "rb") as file:
            return _read_legacy(file)
    except OSError:
        raise
    except Exception as error:  # pickle and zipfile raise many types for corrupt data
        raise ValueError(f"{path}: cannot read PyTorch checkpoint: {error}") from None
