"""Writes small files in torch's legacy (pre-zip) ``torch.save`` format, without torch.

The format (see ``tfrec.encoders.torch_legacy_reader``): pickles of the magic number, the
protocol version, system info, the state dict and the storage keys, then each storage as an
int64 element count and raw little-endian bytes. Tensors pickle as
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`` and
storages as persistent ids ``("storage", torch.FloatStorage, key, "cpu", numel, None)``. To
pickle those global names without torch, stand-in modules named ``torch`` and ``torch._utils``
are put into ``sys.modules`` while writing (and removed afterwards).
"""

from __future__ import annotations

import collections
import contextlib
import io
import pickle
import struct
import sys
import types

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
                 np.dtype("int64"): "LongStorage", np.dtype("int32"): "IntStorage",
                 np.dtype("uint8"): "ByteStorage", np.dtype("float16"): "HalfStorage"}


@contextlib.contextmanager
def _fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError("stand-in")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    for name in STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module


class _Storage:
    def __init__(self, key: str, data: np.ndarray):
        self.key, self.data = key, data


class _Tensor:
    """Pickles as a _rebuild_tensor_v2 call over a storage, with the given offset and strides."""

    def __init__(self, storage: _Storage, offset: int, size, stride, torch):
        self.storage, self.offset, self.size, self.stride, self.torch = storage, offset, size, stride, torch

    def __reduce__(self):
        return (self.torch._utils._rebuild_tensor_v2,
                (self.storage, self.offset, tuple(self.size), tuple(self.stride), False, collections.OrderedDict()))


def _tensor_parts(name: str, value: np.ndarray, transposed: bool, index: int):
    """A storage and a view that reads back as ``value``: contiguous, or (``transposed``) stored
    in reversed axis order and read through reversed strides, as converted checkpoints are."""
    value = np.asarray(value)
    if transposed and value.ndim >= 2:
        data = np.ascontiguousarray(value.transpose(tuple(reversed(range(value.ndim)))))
        stride = [int(np.prod(value.shape[:axis])) for axis in range(value.ndim)]
    else:
        data = np.ascontiguousarray(value)
        stride = [int(np.prod(value.shape[axis + 1:])) for axis in range(value.ndim)]
    # A leading pad element makes the offset matter too.
    flat = np.concatenate([np.zeros(1, value.dtype), data.reshape(-1)])
    return _Storage(f"{1000 + index}", flat), 1, list(value.shape), stride


def legacy_bytes(state: dict[str, np.ndarray], transposed: bool = True, extra_pickle=None,
                 object_override=None) -> bytes:
    """The bytes ``torch.save(state, f, _use_new_zipfile_serialization=False)`` would write.

    ``object_override``: pickle this object instead of the state dict (for bad-input tests).
    ``extra_pickle``: appended after the storages.
    """
    out = io.BytesIO()
    with _fake_torch() as torch:
        storages: list[_Storage] = []
        tensors = collections.OrderedDict()
        for index, (name, value) in enumerate(state.items()):
            storage, offset, size, stride = _tensor_parts(name, value, transposed, index)
            storages.append(storage)
            tensors[name] = _Tensor(storage, offset, size, stride, torch)

        def persistent_id(obj):
            if isinstance(obj, _Storage):
                kind = getattr(torch, STORAGE_NAMES[obj.data.dtype])
                return ("storage", kind, obj.key, "cpu", int(obj.data.size), None)
            return None

        for header in (MAGIC_NUMBER, 1001,
                       {"protocol_version": 1001, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, out, protocol=2)
        pickler = pickle.Pickler(out, protocol=2)
        pickler.persistent_id = persistent_id
        pickler.dump(tensors if object_override is None else object_override)
        pickle.dump([s.key for s in storages], out, protocol=2)
        for storage in storages:
            out.write(struct.pack("<q", storage.data.size))
            out.write(storage.data.astype(storage.data.dtype.newbyteorder("<")).tobytes())
    if extra_pickle is not None:
        pickle.dump(extra_pickle, out, protocol=2)
    return out.getvalue()


def write_legacy(path, state: dict[str, np.ndarray], **kwargs) -> str:
    with open(path, "wb") as f:
        f.write(legacy_bytes(state, **kwargs))
    return str(path)
