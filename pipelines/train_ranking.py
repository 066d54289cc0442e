"""Train the ranking model of a YAML config with ``model.fit``.

    python pipelines/train_ranking.py --config pipelines/configs/ranking_movielens.yaml --run runs/ml-ranking

The same as ``tfrec train-ranking`` (``--set``, ``--overwrite``); a mistake is
one line and exit status 2. Candidate-list configs (``candidates.retrieval_run``)
need that retrieval run trained first. TensorBoard: ``tfrec tensorboard --run RUN``.
"""

import sys

import tfrec  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfrec.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-ranking", *sys.argv[1:]]))
