"""A subprocess that exports the tiny run into a base path, to be killed part-way by a test.

    python -m tests.reliability.export_worker RUN BASE MODE

MODE ``during``: export normally (the test kills it while the SavedModel is
being written). MODE ``after-save``: once ``tf.saved_model.save`` has written
the complete SavedModel into the hidden temporary folder, touch
``BASE/.saved`` and wait, so the test can kill it in the last moment before
the rename that publishes the version.
"""

from __future__ import annotations

import os
import sys
import time

import tfrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from tfrec.export.retrieval_export import export_retrieval
from tfrec.training.experiment import Experiment


def main(run: str, base: str, mode: str) -> None:
    if mode == "after-save":
        original = tf.saved_model.save

        def save_then_wait(*args, **kwargs):
            original(*args, **kwargs)
            open(os.path.join(base, ".saved"), "w").close()
            time.sleep(600)

        tf.saved_model.save = save_then_wait
    exp = Experiment.from_run(run)
    model = exp.load_model(run)
    print("exporting", flush=True)
    export_retrieval(exp, model, base, max_k=20)
    print("exported", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
