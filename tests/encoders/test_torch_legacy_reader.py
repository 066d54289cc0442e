"""The legacy PyTorch reader: tensors back exactly (strided views included), bad files refused.

Every file here is written by the test itself (tests/encoders/legacy_torch_files.py): no torch.
"""

import collections
import os
import pickle

import numpy as np
import pytest

from tests.encoders.legacy_torch_files import legacy_bytes, write_legacy
from tfrec.encoders.torch_legacy_reader import TorchFileError, read_legacy_state_dict


def sample_state():
    rng = np.random.default_rng(0)
    return collections.OrderedDict([
        ("conv.weight", rng.normal(size=(4, 3, 2, 5)).astype(np.float32)),
        ("bn.running_var", rng.uniform(0.5, 2, size=(4,)).astype(np.float32)),
        ("bn.num_batches_tracked", np.array(7, np.int64)),
        ("fc.weight", rng.normal(size=(3, 6)).astype(np.float64)),
        ("mask", np.array([0, 255, 3], np.uint8)),
        ("empty", np.zeros((0, 3), np.float32)),
    ])


@pytest.mark.parametrize("transposed", [False, True], ids=["contiguous", "strided-views"])
def test_reads_back_every_tensor_exactly(tmp_path, transposed):
    state = sample_state()
    loaded = read_legacy_state_dict(write_legacy(tmp_path / "m.pth", state, transposed=transposed))
    assert list(loaded) == list(state)
    for name, value in state.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape, name
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].flags.c_contiguous


def test_a_transposed_view_is_not_read_as_contiguous(tmp_path):
    # The stored bytes are the transpose; reading them without the strides would give another matrix.
    weight = np.arange(12, dtype=np.float32).reshape(3, 4)
    loaded = read_legacy_state_dict(write_legacy(tmp_path / "m.pth", {"w": weight}, transposed=True))["w"]
    np.testing.assert_array_equal(loaded, weight)
    assert not np.array_equal(loaded.reshape(-1), weight.T.reshape(-1))


def test_a_forbidden_global_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    path.write_bytes(legacy_bytes({}, object_override=collections.OrderedDict(x=Exploit())))
    with pytest.raises(TorchFileError, match=r"evil\.pth.*(posix|os)\.system is not allowed"):
        read_legacy_state_dict(str(path))
    assert not marker.exists()


def test_a_plain_pickle_with_a_global_is_refused(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(collections.Counter("abc"), protocol=2))
    with pytest.raises(TorchFileError, match=r"plain\.pkl.*collections\.Counter is not allowed"):
        read_legacy_state_dict(str(path))


@pytest.mark.parametrize("cut", [3, 40, 200, -9, -1])
def test_truncated_files_name_the_file(tmp_path, cut):
    data = legacy_bytes(sample_state())
    path = tmp_path / "cut.pth"
    path.write_bytes(data[:cut])
    with pytest.raises(TorchFileError, match=r"cut\.pth"):
        read_legacy_state_dict(str(path))


@pytest.mark.parametrize("content, message", [
    (b"", "not a legacy PyTorch"),
    (b"PK\x03\x04" + b"\0" * 40, "zip-format"),
    (pickle.dumps(12345, protocol=2), "wrong magic number"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "not a legacy PyTorch"),
])
def test_files_that_are_not_legacy_state_dicts(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(TorchFileError, match=rf"bad\.pth: .*{message}"):
        read_legacy_state_dict(str(path))


def test_trailing_bytes_and_non_tensor_entries_are_refused(tmp_path):
    path = tmp_path / "extra.pth"
    path.write_bytes(legacy_bytes(sample_state(), extra_pickle=[1, 2, 3]))
    with pytest.raises(TorchFileError, match="unexpected bytes after the last storage"):
        read_legacy_state_dict(str(path))
    path.write_bytes(legacy_bytes({}, object_override=collections.OrderedDict(lr=0.1)))
    with pytest.raises(TorchFileError, match="entry 'lr' is not a tensor"):
        read_legacy_state_dict(str(path))
    path.write_bytes(legacy_bytes({}, object_override=[1, 2]))
    with pytest.raises(TorchFileError, match="not a state dict"):
        read_legacy_state_dict(str(path))


def test_a_storage_size_that_disagrees_with_the_pickle_is_refused(tmp_path):
    data = bytearray(legacy_bytes({"w": np.ones(3, np.float32)}))
    # The last storage: int64 count (4 = 3 values + the writer's pad element), then 16 bytes.
    count_at = len(data) - 16 - 8
    assert int.from_bytes(data[count_at:count_at + 8], "little") == 4
    data[count_at:count_at + 8] = (5).to_bytes(8, "little")
    path = tmp_path / "size.pth"
    path.write_bytes(bytes(data))
    with pytest.raises(TorchFileError, match="holds 5 elements, the pickle says 4"):
        read_legacy_state_dict(str(path))


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_legacy_state_dict(str(tmp_path / "nope.pth"))


def test_a_view_larger_than_its_storage_is_refused(tmp_path, monkeypatch):
    import tests.encoders.legacy_torch_files as files

    parts = files._tensor_parts

    def zero_stride_giant(name, value, transposed, index):
        storage, _, _, _ = parts(name, value, transposed, index)
        return storage, 0, [10**6, 10**6], [0, 0]  # 10^12 elements read from one: never allocated

    monkeypatch.setattr(files, "_tensor_parts", zero_stride_giant)
    path = write_legacy(tmp_path / "giant.pth", {"w": np.ones(2, np.float32)})
    with pytest.raises(TorchFileError, match=r"giant\.pth: tensor w of shape \(1000000, 1000000\) has more elements"):
        read_legacy_state_dict(path)
