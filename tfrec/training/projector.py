"""TensorBoard's embedding projector for the catalogue: item embeddings with their titles.

Writes ``<tensorboard>/projector/``: the candidate tower's embedding of every
catalogue item (the vectors retrieval actually scores, not the raw id
table) as a checkpoint, ``metadata.tsv`` (item id and title per row, in the
same order) and ``projector_config.pbtxt`` tying them together. A one-line
text summary makes the folder a TensorBoard run, which is where the
projector plugin looks for configs.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import tensorflow as tf

PROJECTOR_DIR = "projector"
METADATA_FILE = "metadata.tsv"
TENSOR_NAME = "item_embeddings/.ATTRIBUTES/VARIABLE_VALUE"


def _cell(value) -> str:
    """A TSV cell: tabs and line breaks would shift the projector's rows."""
    return " ".join(str(value).split()) or "-"


def write_item_projector(log_dir: str, embeddings, items: pd.DataFrame) -> str:
    """Writes embeddings ``[N, D]`` of ``items`` (rows in the same order) for the projector; returns the folder."""
    from tensorboard.plugins import projector

    embeddings = np.asarray(embeddings, np.float32)
    if len(embeddings) != len(items):
        raise ValueError(f"{len(embeddings)} embeddings for {len(items)} items")
    folder = os.path.join(log_dir, PROJECTOR_DIR)
    os.makedirs(folder, exist_ok=True)
    titles = items["title"] if "title" in items else pd.Series([""] * len(items))
    with open(os.path.join(folder, METADATA_FILE), "w", encoding="utf-8") as f:
        f.write("item_id\ttitle\n")
        for item_id, title in zip(items["item_id"], titles):
            f.write(f"{_cell(item_id)}\t{_cell(title)}\n")
    checkpoint = tf.train.Checkpoint(item_embeddings=tf.Variable(embeddings, name="item_embeddings"))
    checkpoint.write(os.path.join(folder, "item_embeddings.ckpt"))
    with open(os.path.join(folder, "checkpoint"), "w") as f:  # the projector finds the checkpoint through it
        f.write('model_checkpoint_path: "item_embeddings.ckpt"\n')
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    embedding.metadata_path = METADATA_FILE
    projector.visualize_embeddings(folder, config)
    with tf.summary.create_file_writer(folder).as_default():
        tf.summary.text("item_embeddings", f"{len(items)} catalogue items, {embeddings.shape[1]} dimensions: "
                        "open the Projector tab", step=0)
    return folder
