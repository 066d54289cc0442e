"""Data: schemas, loaders, validation, splits, vocabularies, tf.data pipelines."""
