"""Train the two-tower retrieval model of a YAML config with ``model.fit``.

    python pipelines/train_retrieval.py --config pipelines/configs/retrieval_movielens.yaml --run runs/ml

The same as ``tfrec train`` (every option of it: ``--set``, ``--overwrite``,
``--warm-start`` ...); a mistake is one line and exit status 2.
TensorBoard: ``tfrec tensorboard --run RUN``.
"""

import sys

import tfrec  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfrec.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
