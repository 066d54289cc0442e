"""Lite0 conversion and its preset cache, on a random Lite0-shaped checkpoint the test writes.

The mapping is checked tensor by tensor (layout transposes included); the cache converts once,
is keyed by the file's sha256, survives damage by converting again, and a wrong sha256, a
missing tensor or a wrong shape is an error naming the file. The real weights are checked
against reference logits in test_lite0_golden.py.
"""

import collections
import logging
import os

import numpy as np
import pytest

from tests.encoders.legacy_torch_files import write_legacy
from tfrec.encoders import efficientnet_lite
from tfrec.encoders.efficientnet_lite import (LITE0_BACKBONE, Lite0WeightsError, cache_root, expected_keys,
                                              lite0_preset, load_lite0_backbone)


def lite0_state(seed: int = 0) -> collections.OrderedDict:
    """Random tensors with the names and torch shapes of a Lite0 checkpoint."""
    rng = np.random.default_rng(seed)
    state = collections.OrderedDict()

    def bn(prefix, n):
        state[f"{prefix}.weight"] = rng.uniform(0.5, 1.5, n).astype(np.float32)
        state[f"{prefix}.bias"] = rng.normal(0, 0.1, n).astype(np.float32)
        state[f"{prefix}.running_mean"] = rng.normal(0, 0.1, n).astype(np.float32)
        state[f"{prefix}.running_var"] = rng.uniform(0.5, 1.5, n).astype(np.float32)
        state[f"{prefix}.num_batches_tracked"] = np.array(100, np.int64)

    def conv(name, *shape):
        state[name] = rng.normal(0, 0.1, shape).astype(np.float32)

    conv("_conv_stem.weight", 32, 3, 3, 3)
    bn("_bn0", 32)
    index = 0
    arch = LITE0_BACKBONE
    for stack, repeats in enumerate(arch["stackwise_num_repeats"]):
        for j in range(repeats):
            inp = arch["stackwise_input_filters"][stack] if j == 0 else arch["stackwise_output_filters"][stack]
            out, k = arch["stackwise_output_filters"][stack], arch["stackwise_kernel_sizes"][stack]
            filters = inp * arch["stackwise_expansion_ratios"][stack]
            p = f"_blocks.{index}"
            if filters != inp:
                conv(f"{p}._expand_conv.weight", filters, inp, 1, 1)
                bn(f"{p}._bn0", filters)
            conv(f"{p}._depthwise_conv.weight", filters, 1, k, k)
            bn(f"{p}._bn1", filters)
            conv(f"{p}._project_conv.weight", out, filters, 1, 1)
            bn(f"{p}._bn2", out)
            index += 1
    conv("_conv_head.weight", 1280, 320, 1, 1)
    bn("_bn1", 1280)
    conv("_fc.weight", 1000, 1280)
    state["_fc.bias"] = rng.normal(0, 0.1, 1000).astype(np.float32)
    return state


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("TFREC_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A random Lite0 checkpoint (stored as strided views), converted into a module-wide cache."""
    folder = tmp_path_factory.mktemp("lite0")
    os.environ["TFREC_CACHE_DIR"] = str(folder / "cache")
    try:
        state = lite0_state()
        path = write_legacy(folder / "lite0.pth", state, transposed=True)
        preset = lite0_preset(path)
        yield state, path, preset
    finally:
        os.environ.pop("TFREC_CACHE_DIR", None)


def test_the_checkpoint_layout_is_the_documented_one():
    assert len(expected_keys()) == 296
    assert set(lite0_state()) == expected_keys()


def test_every_tensor_lands_in_its_layer_with_its_layout(converted):
    import keras_hub

    state, _, preset = converted
    classifier = keras_hub.models.ImageClassifier.from_preset(preset)
    backbone = classifier.backbone
    np.testing.assert_array_equal(backbone.get_layer("stem_conv").kernel.numpy(),
                                  state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    gamma, beta, mean, var = (w.numpy() for w in backbone.get_layer("stem_bn").weights)
    np.testing.assert_array_equal(gamma, state["_bn0.weight"])
    np.testing.assert_array_equal(var, state["_bn0.running_var"])
    np.testing.assert_array_equal(backbone.get_layer("block1a_dwconv").kernel.numpy(),
                                  state["_blocks.0._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    block = backbone.get_layer("block6d_")  # the 15th block (index 14): 4th of stack 6
    np.testing.assert_array_equal(block.depthwise.kernel.numpy(),
                                  state["_blocks.14._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(block.conv1.kernel.numpy(),
                                  state["_blocks.14._expand_conv.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(block.bn3.moving_mean.numpy(), state["_blocks.14._bn2.running_mean"])
    np.testing.assert_array_equal(backbone.get_layer("top_bn").moving_variance.numpy(), state["_bn1.running_var"])
    dense = classifier.get_layer("predictions")
    np.testing.assert_array_equal(dense.kernel.numpy(), state["_fc.weight"].T)
    np.testing.assert_array_equal(dense.bias.numpy(), state["_fc.bias"])
    assert backbone.get_layer("block1a_dwconv_bn").epsilon == 1e-3


def test_the_cache_is_keyed_by_content_and_converts_once(converted, caplog):
    _, path, preset = converted
    assert os.path.dirname(preset) == cache_root()
    sha = efficientnet_lite.file_sha256(path)
    assert os.path.basename(preset).startswith(f"efficientnet_lite0-{sha[:16]}-v")
    with caplog.at_level(logging.INFO, logger="tfrec.encoders.efficientnet_lite"):
        assert lite0_preset(path) == preset
    assert "converting" not in caplog.text
    assert not [name for name in os.listdir(cache_root()) if ".tmp-" in name]  # nothing half-written left


def test_a_damaged_cached_preset_is_converted_again(converted, caplog):
    _, path, preset = converted
    with open(os.path.join(preset, "model.weights.h5"), "r+b") as f:
        f.truncate(1000)
    with caplog.at_level(logging.WARNING, logger="tfrec.encoders.efficientnet_lite"):
        backbone, folder = load_lite0_backbone(path)
    assert folder == preset and "did not load" in caplog.text
    assert backbone.output_shape[-1] == 1280


def test_the_packaged_checkpoint_must_have_the_pinned_sha256(converted, monkeypatch):
    _, path, _ = converted
    monkeypatch.setattr(efficientnet_lite, "find_lite0_checkpoint", lambda: path)
    with pytest.raises(Lite0WeightsError, match=r"lite0\.pth: sha256 [0-9a-f]{64} is not the pinned 5793442"):
        lite0_preset()


def test_a_missing_tensor_or_wrong_shape_names_the_file(tmp_path, cache):
    state = lite0_state()
    del state["_blocks.3._expand_conv.weight"]
    path = write_legacy(tmp_path / "short.pth", state)
    with pytest.raises(Lite0WeightsError, match=r"short\.pth: not an EfficientNet-Lite0 checkpoint: 1 missing"):
        lite0_preset(path)
    state = lite0_state()
    state["_conv_head.weight"] = np.zeros((1280, 321, 1, 1), np.float32)
    path = write_legacy(tmp_path / "wide.pth", state)
    with pytest.raises(Lite0WeightsError, match=r"wide\.pth: tensors _conv_head\.\* have shapes"):
        lite0_preset(path)
    assert not [name for name in os.listdir(cache) if not name.startswith(".")]  # no preset was kept
