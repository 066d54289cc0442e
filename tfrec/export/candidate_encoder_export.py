"""Exports the candidate tower as a SavedModel that embeds items from raw content.

Signature ``serving_default`` (the serving contract):
  inputs  ``item_id``, ``text`` string [B], ``image`` encoded JPEG/PNG bytes [B];
  output  ``embedding`` float32 [B, D].
The item's title and categorical fields are looked up by id from the training
catalogue (a new id has none). Signature ``with_features`` also takes
``title`` and one string input per categorical field (``|``-joined values),
for items the catalogue does not know — what ``tfrec index add`` uses.

Tokenisation, image decoding and both encoders run inside the graph, so TF
Serving needs nothing but the request; an empty text or an undecodable image
gives the learned "missing" embedding for that modality, never an error.
"""

from __future__ import annotations

import os

import tensorflow as tf

from tfrec.export.serving_config import BatchingSettings, write_model_batching_params
from tfrec.export.versions import new_version
from tfrec.export.warmup import warmup_requests, write_warmup_requests
from tfrec.models.content import IMAGE, RAW_FEATURES, TEXT, read_image_bytes
from tfrec.models.retrieval import SAMPLING_PROBABILITY

MODEL_NAME = "candidate_encoder"


class CandidateEncoderService(tf.Module):
    """Raw item content → candidate embedding; the object behind the SavedModel."""

    def __init__(self, candidate_tower, featurizer, item_features, categorical: tuple[str, ...]):
        super().__init__()
        self.candidate_tower, self.featurizer, self.item_features = candidate_tower, featurizer, item_features
        self.categorical = tuple(categorical)
        self.with_features = tf.function(
            self._with_features,
            input_signature=[
                {name: tf.TensorSpec([None], tf.string, name=name)
                 for name in ("item_id", "text", "image", "title", *self.categorical)}
            ],
        )
        self.serve = tf.function(self._serve, input_signature=[
            tf.TensorSpec([None], tf.string, name="item_id"), tf.TensorSpec([None], tf.string, name="text"),
            tf.TensorSpec([None], tf.string, name="image")])

    def _embed(self, features):
        if self.featurizer is not None and getattr(self.candidate_tower, "featurizer", None) is None:
            features = {**features, **self.featurizer(features, training=False)}
        return {"embedding": self.candidate_tower(features, training=False)}

    def _serve(self, item_id, text, image):
        known = self.item_features(item_id)
        features = {"item_id": item_id, RAW_FEATURES[TEXT]: text, RAW_FEATURES[IMAGE]: image,
                    SAMPLING_PROBABILITY: known[SAMPLING_PROBABILITY]}
        features.update({f"item_{c}": known[f"item_{c}"] for c in ("title", *self.categorical)})
        return self._embed(features)

    def _with_features(self, inputs):
        features = {"item_id": inputs["item_id"], RAW_FEATURES[TEXT]: inputs["text"],
                    RAW_FEATURES[IMAGE]: inputs["image"],
                    SAMPLING_PROBABILITY: self.item_features(inputs["item_id"])[SAMPLING_PROBABILITY]}
        features.update({f"item_{c}": inputs[c] for c in ("title", *self.categorical)})
        return self._embed(features)


def build_candidate_service(exp, model) -> CandidateEncoderService:
    if not exp.config.model.content.enabled:
        raise ValueError("the candidate encoder export needs a model that reads item content "
                         "(model.content.mode other than 'none')")
    return CandidateEncoderService(model.candidate_tower, exp.featurizer, exp.join.items,
                                   exp.dataset.item_categorical)


# Each row runs the text and image encoders: batches stay small so one does not hold the others up.
CANDIDATE_BATCHING = BatchingSettings(max_batch_size=64, batch_timeout_micros=2000)


def candidate_warmup(exp, service: CandidateEncoderService) -> list:
    """Warm-up requests of both signatures from real catalogue items, plus one without text or image
    (the "missing" path of each encoder)."""
    items = exp.dataset.items.head(4)

    def column(name):
        return items[name].fillna("").astype(str).tolist() if name in items else [""] * len(items)

    columns = {"item_id": (tf.string, column("item_id") + ["new-item"]),
               "text": (tf.string, column("text") + [""]),
               "image": (tf.string, read_image_bytes(column("image_path")) + [b""])}
    requests = warmup_requests(MODEL_NAME, "serving_default", columns, batch_sizes=(1, 5))
    for name in ("title", *service.categorical):
        columns[name] = (tf.string, column(name) + [""])
    return requests + warmup_requests(MODEL_NAME, "with_features", columns, batch_sizes=(1, 5))


def export_candidate_encoder(exp, model, base: str, version: int | None = None, log=print) -> str:
    """Writes ``<base>/candidate_encoder/<version>/`` (claimed first, published whole) and returns its path."""
    service = build_candidate_service(exp, model)
    with new_version(base, MODEL_NAME, version, log=log) as (version, folder):
        tf.saved_model.save(service, folder, signatures={
            "serving_default": service.serve.get_concrete_function(),
            "with_features": service.with_features.get_concrete_function(),
        })
        write_warmup_requests(folder, candidate_warmup(exp, service))
        write_model_batching_params(folder, CANDIDATE_BATCHING)
    return os.path.join(base, MODEL_NAME, str(version))
