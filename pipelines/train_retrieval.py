"""Train the two-tower retrieval model of a YAML config with ``model.fit``.

    python pipelines/train_retrieval.py --config pipelines/configs/retrieval_movielens.yaml --run runs/ml

TensorBoard: ``tensorboard --logdir RUN/tensorboard``.
"""

import argparse

import tfrec  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfrec.config import load_config
from tfrec.training.retrieval_trainer import train_retrieval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML config (see pipelines/configs/)")
    parser.add_argument("--run", required=True, help="run folder to write")
    args = parser.parse_args()
    train_retrieval(load_config(args.config), args.run)


if __name__ == "__main__":
    main()
