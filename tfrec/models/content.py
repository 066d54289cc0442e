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

import contextlib
import dataclasses
import hashlib
import logging
import os

import numpy as np
import pandas as pd
import tensorflow as tf
import tf_keras as keras

from tfrec.atomic import atomic_file
from tfrec.config import ContentConfig
from tfrec.config.typed import to_dict
from tfrec.models.feature_encoders import distinct_rows

logger = logging.getLogger(__name__)

TEXT, IMAGE = "text", "image"
RAW_FEATURES = {TEXT: "item_text", IMAGE: "item_image"}
VECTOR_FEATURES = {TEXT: "item_text_vector", IMAGE: "item_image_vector"}


def modalities(config: ContentConfig) -> list[str]:
    return [m for m, settings in ((TEXT, config.text), (IMAGE, config.image)) if settings is not None]


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
            from tfrec.encoders.text import build_text_encoder

            encoder = build_text_encoder(dataclasses.replace(config.text, trainable=trainable))
        else:
            from tfrec.encoders.image import build_image_encoder

            encoder = build_image_encoder(dataclasses.replace(config.image, trainable=trainable, zero_invalid=True))
        with atomic_directory(path, if_exists="keep") as tmp:
            os.rmdir(tmp)  # the module exporter creates its own folder
            export_hub_module(encoder, tmp)
    return paths


class ContentFeaturizer(keras.layers.Layer):
    """``{item_id, item_text, item_image}`` → ``{item_text_vector, item_image_vector}``.

    In training, items repeated in a batch (popular items often are) are
    encoded once and the vectors gathered back, which is what keeps live
    encoders affordable; at inference every row is encoded as sent.
    Undecodable or empty images give zero vectors (read as "missing").
    """

    def __init__(self, module_paths: dict[str, str], trainable: bool = False, **kwargs):
        super().__init__(**kwargs)
        import tensorflow_hub as hub

        if TEXT in module_paths:
            import tensorflow_text  # noqa: F401  (registers the tokenizer ops the text module's graph uses)
        self.module_paths = dict(module_paths)
        self.encoders = {m: hub.KerasLayer(path, trainable=trainable, name=f"{m}_encoder")
                         for m, path in sorted(self.module_paths.items())}

    @property
    def input_names(self) -> list[str]:
        return ["item_id", *(RAW_FEATURES[m] for m in self.encoders)]

    def call(self, features, training=False):
        # In training the join looked content up by id, so one id is one content; a request (a new item,
        # an unknown id such as "") may send different content under one id, and each row is encoded.
        if not training:
            return {VECTOR_FEATURES[m]: encoder(features[RAW_FEATURES[m]], training=False)
                    for m, encoder in self.encoders.items()}
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


def module_fingerprint(path: str) -> str:
    """A hash of an exported encoder module's weights: two modules with the same one encode alike
    (given the same settings). Kept beside the module once computed."""
    stamp = os.path.join(path, "assets.extra", "weights.sha256")
    if os.path.exists(stamp):
        with open(stamp) as f:
            return f.read().strip()
    reader = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
    digest = hashlib.sha256()
    for name in sorted(reader.get_variable_to_shape_map()):
        value = reader.get_tensor(name)
        digest.update(name.encode() + b"\0" + str(getattr(value, "dtype", "")).encode())
        digest.update(value.tobytes() if hasattr(value, "tobytes") else repr(value).encode())
    fingerprint = digest.hexdigest()[:24]
    with contextlib.suppress(OSError):  # a read-only run folder: computed again next time
        with atomic_file(stamp) as f:
            f.write(fingerprint)
    return fingerprint


def content_hash(items: pd.DataFrame, images: list[bytes], config: ContentConfig, modality: str,
                 encoder_fingerprint: str = "") -> str:
    """A hash of what the vectors of ``modality`` are computed from: the encoder's weights and
    settings, and each item's id and text (or image bytes)."""
    settings = to_dict(config.text if modality == TEXT else config.image)
    digest = hashlib.sha256(repr(sorted(settings.items())).encode())
    digest.update(modality.encode() + encoder_fingerprint.encode())
    for item_id, text, image in zip(items.item_id, items.text, images):
        digest.update(item_id.encode() + b"\0")
        digest.update((text if modality == TEXT else hashlib.sha1(image).hexdigest()).encode() + b"\0")
    return digest.hexdigest()[:24]


def encode_catalogue(featurizer: ContentFeaturizer, items: pd.DataFrame, images: list[bytes],
                     config: ContentConfig, cache: str | None = None, log=print) -> dict[str, np.ndarray]:
    """``{item_text_vector: [N, Dt], item_image_vector: [N, Di]}`` for every catalogue item.

    With ``cache`` (a folder, e.g. the user's cache) the vectors are kept
    there under a hash of the encoder (weights and settings) and the content:
    any run that encodes the same items with the same encoder reuses them,
    and a changed overview or poster is encoded again.
    """
    vectors = {}
    for modality in featurizer.encoders:
        name = VECTOR_FEATURES[modality]
        path = None
        if cache:
            key = content_hash(items, images, config, modality, module_fingerprint(featurizer.module_paths[modality]))
            path = os.path.join(cache, f"{name}-{key}.npy")
            if os.path.exists(path):
                vectors[name] = np.load(path)
                log(f"{modality} vectors of {len(items):,} items from the cache ({path})")
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
