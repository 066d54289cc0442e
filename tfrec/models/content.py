"""Item content as candidate-tower features: BERT text and EfficientNet image vectors.

The encoders are Keras 3 (keras-hub) models exported as TF-Hub modules into
the run folder (``RUN/encoders/text``, ``RUN/encoders/image``) and loaded into
the Keras 2 tower with ``hub.KerasLayer``. ``ContentFeaturizer`` turns raw
``item_text`` and ``item_image`` (encoded bytes) into ``item_text_vector`` and
``item_image_vector``, encoding each distinct item of a batch once.

With frozen encoders the vectors of the whole catalogue are computed once
(``encode_catalogue``) and cached on disk by content hash, and training looks
them up like any other feature: the expensive encoders never run per
interaction. The candidate-encoder export runs the same featurizer live, so a
new item's raw text and image give the same vector the cache would.
"""

from __future__ import annotations

import hashlib
import logging
import os

import numpy as np
import pandas as pd
import tensorflow as tf
import tf_keras as keras

from tfrec.atomic import atomic_file
from tfrec.config import ContentConfig
from tfrec.models.feature_encoders import distinct_rows

logger = logging.getLogger(__name__)

TEXT, IMAGE = "text", "image"
RAW_FEATURES = {TEXT: "item_text", IMAGE: "item_image"}
VECTOR_FEATURES = {TEXT: "item_text_vector", IMAGE: "item_image_vector"}


def modalities(config: ContentConfig) -> list[str]:
    return [m for m, settings in ((TEXT, config.text), (IMAGE, config.image)) if settings]


def export_encoder_modules(config: ContentConfig, folder: str) -> dict[str, str]:
    """Builds the configured encoders and saves them as TF-Hub modules under ``folder``.

    Folders that already exist are reused, so a run's encoders are built once
    (and a fine-tuned run restores its weights into the same module graph).
    """
    from tfrec.atomic import atomic_directory
    from tfrec.encoders.hub_module import export_hub_module

    paths = {}
    for modality in modalities(config):
        path = os.path.join(folder, modality)
        paths[modality] = path
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            continue
        trainable = config.mode == "finetune"
        if modality == TEXT:
            from tfrec.encoders.text import TextEncoderConfig, build_text_encoder

            encoder = build_text_encoder(TextEncoderConfig(**{**config.text, "trainable": trainable}))
        else:
            from tfrec.encoders.image import ImageEncoderConfig, build_image_encoder

            settings = {"zero_invalid": True, **config.image, "trainable": trainable}
            encoder = build_image_encoder(ImageEncoderConfig(**settings))
        with atomic_directory(path) as tmp:
            os.rmdir(tmp)  # the module exporter creates its own folder
            export_hub_module(encoder, tmp)
    return paths


class ContentFeaturizer(keras.layers.Layer):
    """``{item_id, item_text, item_image}`` → ``{item_text_vector, item_image_vector}``.

    Items repeated in a batch (popular items often are) are encoded once and
    the vectors gathered back, which is what keeps live encoders affordable.
    Undecodable or empty images give zero vectors (read as "missing").
    """

    def __init__(self, module_paths: dict[str, str], trainable: bool = False, **kwargs):
        super().__init__(**kwargs)
        import tensorflow_hub as hub

        self.module_paths = dict(module_paths)
        self.encoders = {m: hub.KerasLayer(path, trainable=trainable, name=f"{m}_encoder")
                         for m, path in sorted(self.module_paths.items())}

    @property
    def input_names(self) -> list[str]:
        return ["item_id", *(RAW_FEATURES[m] for m in self.encoders)]

    def call(self, features, training=False):
        first, position = distinct_rows(features["item_id"])
        out = {}
        for modality, encoder in self.encoders.items():
            raw = tf.gather(features[RAW_FEATURES[modality]], first)
            vectors = encoder(raw, training=training)
            out[VECTOR_FEATURES[modality]] = tf.gather(vectors, position)
        return out

    def get_config(self):
        return {**super().get_config(), "module_paths": self.module_paths}


def read_image_bytes(paths) -> list[bytes]:
    """File contents for each path; missing or unreadable files give ``b""`` (no image)."""
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                out.append(f.read())
        except OSError:
            out.append(b"")
    return out


def content_hash(items: pd.DataFrame, images: list[bytes], config: ContentConfig, modality: str) -> str:
    digest = hashlib.sha256(repr(sorted((config.text if modality == TEXT else config.image).items())).encode())
    digest.update(modality.encode())
    for item_id, text, image in zip(items.item_id, items.text, images):
        digest.update(item_id.encode() + b"\0")
        digest.update((text if modality == TEXT else hashlib.sha1(image).hexdigest()).encode() + b"\0")
    return digest.hexdigest()[:20]


def encode_catalogue(featurizer: ContentFeaturizer, items: pd.DataFrame, images: list[bytes],
                     config: ContentConfig, cache_dir: str | None = None, log=print) -> dict[str, np.ndarray]:
    """``{item_text_vector: [N, Dt], item_image_vector: [N, Di]}`` for every catalogue item.

    Cached in ``cache_dir`` under a hash of the encoder settings and the
    content, so a rerun (evaluation, export) reuses the vectors and a changed
    overview or poster is re-encoded.
    """
    vectors = {}
    for modality in featurizer.encoders:
        name = VECTOR_FEATURES[modality]
        path = None
        if cache_dir:
            path = os.path.join(cache_dir, f"{name}-{content_hash(items, images, config, modality)}.npy")
            if os.path.exists(path):
                vectors[name] = np.load(path)
                continue
        raw = items.text.tolist() if modality == TEXT else images
        encoder = featurizer.encoders[modality]
        parts, size = [], config.encode_batch_size
        for start in range(0, len(raw), size):
            batch = tf.constant(raw[start:start + size], tf.string)
            parts.append(encoder(batch, training=False).numpy())
        vectors[name] = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        log(f"encoded {modality} of {len(raw):,} items")
        if path:
            with atomic_file(path, "wb") as f:
                np.save(f, vectors[name])
    return vectors
