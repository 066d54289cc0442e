"""Continuous training: start a run from a trained run's weights, on new interactions.

New data brings users and items the trained model has never seen. The
vocabularies are *grown*: every old value keeps its position and new values
are appended, so old users and items keep their ids (and their embeddings)
even when they do not occur in the new data. The new, bigger embedding
tables are filled by id from the old run's checkpoint; rows of new ids
start from the old out-of-vocabulary embedding, which is what the old model
already gave them. All other weights are copied when their shape is
unchanged; non-trainable data-derived tables (cached content vectors of a
changed catalogue) are rebuilt from the new data. The optimizer starts
fresh.
"""

from __future__ import annotations

import collections
import os

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrec.data.vocabulary import Vocabularies
from tfrec.errors import ConfigError, RunError
from tfrec.run_folder import RunFolder
from tfrec.training.checkpoints import VALUE_SUFFIX, variable_paths, verify_checkpoint


class WarmStartError(ConfigError):
    """The trained run cannot seed the new model (missing, or a different architecture)."""


def grow_vocabularies(old: Vocabularies, new: Vocabularies) -> Vocabularies:
    """Old values in their old order, then the new values they lack (in the new order)."""
    grown = {}
    for name in list(old.values) + [n for n in new.values if n not in old.values]:
        before = list(old.values.get(name, []))
        known = set(before)
        grown[name] = before + [v for v in new.values.get(name, []) if v not in known]
    return Vocabularies(grown)


def warm_start_vocabularies(config, run, vocabularies: Vocabularies) -> Vocabularies:
    """The vocabularies of a warm-started run: the source run's grown by ``vocabularies``.

    Once the run has written its own ``vocabularies.json`` (it trained, or it
    was interrupted and resumes) that file is the base, so evaluation and
    export rebuild exactly the tables it trained, even if the source run is gone.
    """
    source = config.train.warm_start
    if not source:
        return vocabularies
    run, source_run = RunFolder(run), RunFolder(source)
    if source_run.path == run.path:
        raise WarmStartError(f"train.warm_start names the run being written ({run.name}); use a new run folder")
    own = run.vocabularies_file
    if os.path.exists(own):
        return grow_vocabularies(Vocabularies.from_json(own), vocabularies)
    try:
        source_run.require_finished()
    except RunError as e:
        raise WarmStartError(f"train.warm_start: {e}") from None
    return grow_vocabularies(Vocabularies.from_json(source_run.vocabularies_file), vocabularies)


def _lookup_tables(model) -> dict[int, keras.layers.Layer]:
    """``id(table)`` → layer, for layers that embed strings through ``lookup`` (StringLookup) + ``embedding``."""
    tables = {}
    for layer in model.submodules:
        lookup, embedding = getattr(layer, "lookup", None), getattr(layer, "embedding", None)
        if isinstance(lookup, keras.layers.StringLookup) and isinstance(embedding, keras.layers.Embedding):
            tables[id(embedding.embeddings)] = layer
    return tables


def _copy_rows_by_id(layer, old_table: np.ndarray, new_table: np.ndarray, old_vocab: list | None) -> np.ndarray:
    """The new table with each old id's row copied to that id's new row; new ids start at the OOV row."""
    num_oov = layer.lookup.num_oov_indices
    new_tokens = [str(t) for t in layer.lookup.get_vocabulary()]
    if old_vocab is None:  # a table whose vocabulary the run does not name: grown tables keep the old prefix
        old_vocab = new_tokens[num_oov:len(old_table)]
    if len(old_vocab) + num_oov != len(old_table):
        raise WarmStartError(f"{layer.name}: the trained table has {len(old_table)} rows for "
                             f"{len(old_vocab)} ids and {num_oov} OOV bucket(s)")
    index = {token: row for row, token in enumerate(new_tokens) if row >= num_oov}
    missing = [t for t in old_vocab if t not in index]
    if missing:
        raise WarmStartError(f"{layer.name}: old ids missing from the grown vocabulary, e.g. {missing[:3]}")
    table = new_table.copy()
    table[num_oov:] = old_table[0]  # new ids: what the old model gave unknown ids
    table[:num_oov] = old_table[:num_oov]
    table[[index[t] for t in old_vocab]] = old_table[num_oov:]
    return table


def warm_start_weights(model, source_run: str, log=print) -> dict:
    """Fills the built ``model`` from ``source_run``'s best weights; returns counts of what was done.

    ``model`` must have its variables (towers called once) and be built
    from grown vocabularies (``warm_start_vocabularies``).
    """
    source_run = RunFolder(source_run)
    prefix = source_run.weights_prefix
    if not tf.io.gfile.exists(prefix + ".index"):
        raise WarmStartError(f"train.warm_start: no trained weights at {prefix}")
    verify_checkpoint(prefix, hint="train.warm_start needs an intact trained run")
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    old_vocabs = Vocabularies.from_json(source_run.vocabularies_file).values
    paths, tables = variable_paths(model), _lookup_tables(model)
    counts = collections.Counter()
    for variable in model.variables:
        key = paths.get(id(variable))
        if key is None or key not in shapes:
            counts["new"] += 1
            log(f"warm start: {variable.name} is new, kept at its initial value")
            continue
        old = reader.get_tensor(key)
        new_shape = tuple(variable.shape)
        if id(variable) in tables and old.shape[1:] == new_shape[1:] and old.shape[0] <= new_shape[0]:
            layer = tables[id(variable)]
            variable.assign(_copy_rows_by_id(layer, old, variable.numpy(), old_vocabs.get(layer.name)))
            counts["tables"] += 1
            counts["new_rows"] += new_shape[0] - old.shape[0]
        elif old.shape == new_shape:
            variable.assign(old)
            counts["copied"] += 1
        elif not variable.trainable:
            counts["rebuilt"] += 1
        else:
            raise WarmStartError(f"train.warm_start: {key.removesuffix(VALUE_SUFFIX)} has shape {old.shape} "
                                 f"in {source_run.name} but {new_shape} in the new model; the architecture changed")
    log(f"warm start from {source_run.name}: {counts['tables']} embedding tables grown by {counts['new_rows']} rows, "
        f"{counts['copied']} weights copied, {counts['new']} new, {counts['rebuilt']} rebuilt from data")
    return dict(counts)
