"""Item content as candidate-tower features: BERT text and EfficientNet image vectors.

The encoders are Keras 3 (keras-hub) models exported as TF-Hub modules into
the run folder (``RUN/encoders/text``, ``RUN/encoders/image``) and loaded into
the Keras 2 tower with ``hub.KerasLayer``. ``ContentFeaturizer`` turns raw
``item_text`` and ``item_image`` (encoded bytes) into ``item_text_vector`` and
``item_image_vector``, encoding each distinct item of a batch once.

With frozen encoders the vectors of the whole catalogue are computed once
(``encode_catalogue``), shared by every run through the user's cache
(:mod:`tfrec.models.content_cache`), and training looks
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


def export_encoder_modules(config: ContentConfig, folder: str, log=print) -> dict[str, str]:
    """Builds the configured encoders and saves them as TF-Hub modules under ``folder``.

    Folders that already exist are reused, so a run's encoders are built once
    (and a fine-tuned run restores its weights into the same module graph).
    Each build is logged before and after: it takes tens of seconds for MiniLM
    and Lite0, before any other progress.
    """
    import time

    from tfrec.atomic import atomic_directory
    from tfrec.encoders.hub_module import export_hub_module

    paths = {}
    for modality in modalities(config):
        path = os.path.join(folder, modality)
        paths[modality] = path
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            continue
        trainable = config.mode == "finetune"
        name = config.text.preset if modality == TEXT else config.image.variant
        log(f"{modality} encoder: building {name} and exporting it into {path}")
        started = time.monotonic()
        if modality == TEXT:
            from tfrec.encoders.text import build_text_encoder

            encoder = build_text_encoder(dataclasses.replace(config.text, trainable=trainable))
        else:
            from tfrec.encoders.image import build_image_encoder

            encoder = build_image_encoder(dataclasses.replace(config.image, trainable=trainable, zero_invalid=True))
        with atomic_directory(path, if_exists="keep") as tmp:
            os.rmdir(tmp)  # the module exporter creates its own folder
            export_hub_module(encoder, tmp)
        log(f"{modality} encoder: ready in {time.monotonic() - started:.1f} s")
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
    (given the same settings). Only floating-point variables count: the others are the dropout
    layers' seed-generator states, drawn anew at each build and never read at inference, which
    would otherwise make two builds of the same pretrained encoder look different. Kept beside the
    module once computed."""
    stamp = os.path.join(path, "assets.extra", "float-weights.sha256")
    if os.path.exists(stamp):
        with open(stamp) as f:
            return f.read().strip()
    reader = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
    digest = hashlib.sha256()
    for name in sorted(reader.get_variable_to_shape_map()):
        value = reader.get_tensor(name)
        if not (isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)):
            continue
        digest.update(name.encode() + b"\0" + str(value.dtype).encode() + str(value.shape).encode())
        digest.update(value.tobytes())
    fingerprint = digest.hexdigest()[:24]
    with contextlib.suppress(OSError):  # a read-only run folder: computed again next time
        with atomic_file(stamp) as f:
            f.write(fingerprint)
    return fingerprint


def encode_catalogue(featurizer: ContentFeaturizer, items: pd.DataFrame, images: list[bytes],
                     config: ContentConfig, cache: str | None = None, log=print) -> dict[str, np.ndarray]:
    """``{item_text_vector: [N, Dt], item_image_vector: [N, Di]}`` for every catalogue item.

    Each distinct text or image is encoded once, with a progress line every
    few seconds. An empty (or blank) text and an empty image never reach an
    encoder: their vector is zeros, which the towers read as "missing" (the
    learned missing embedding, as the encoders themselves give for them).
    With ``cache`` (a folder, e.g. the user's cache) vectors are shared
    between runs (:mod:`tfrec.models.content_cache`): only content no run
    has encoded with the same encoder and settings is encoded.
    """
    from tfrec.models.content_cache import ContentCache, content_key, encoder_key

    vectors = {}
    for modality, encoder in featurizer.encoders.items():
        raw = ([text if isinstance(text, str) else "" for text in items.text] if modality == TEXT
               else [bytes(image) for image in images])
        keys = [content_key(r) if (r.strip() if modality == TEXT else r) else None for r in raw]
        first = {}
        for key, content in zip(keys, raw):
            if key is not None:
                first.setdefault(key, content)
        store = None
        if cache:
            settings = to_dict(config.text if modality == TEXT else config.image)
            store = ContentCache(cache, encoder_key(modality, settings,
                                                    module_fingerprint(featurizer.module_paths[modality])), log)
        found = store.lookup(first) if store else {}
        todo = [key for key in first if key not in found]
        if found:
            hits = sum(key in found for key in keys)
            log(f"content cache hit: {hits:,} items, {store.key}"
                + (f" ({len(todo):,} new {modality} contents to encode)" if todo else ""))
        encoded = _encode(encoder, [first[key] for key in todo], config.encode_batch_size, f"encoding {modality}", log)
        if store is not None:
            store.store(todo, encoded)
        table = {**found, **dict(zip(todo, encoded))}
        dim = next(iter(table.values())).shape[-1] if table else int(encoder(tf.constant([""])).shape[-1])
        out = np.zeros((len(raw), dim), np.float32)
        for row, key in enumerate(keys):
            if key is not None:
                out[row] = table[key]
        missing = keys.count(None)
        if missing:
            log(f"{missing:,} of {len(raw):,} items have no {modality}: zero vectors (read as missing)")
        vectors[VECTOR_FEATURES[modality]] = out
    return vectors


def _encode(encoder, contents: list, batch_size: int, what: str, log) -> np.ndarray:
    """``encoder`` over ``contents`` in batches, with progress lines (for one batch, only the last)."""
    from tfrec.progress import Progress

    progress = Progress(what, len(contents), log=log, announce=len(contents) > batch_size)
    parts = []
    for start in range(0, len(contents), batch_size):
        batch = contents[start:start + batch_size]
        parts.append(encoder(tf.constant(batch, tf.string), training=False).numpy())
        progress.advance(len(batch))
    progress.finish()
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
