"""Train the ranking model of a YAML config with ``model.fit``.

    python pipelines/train_ranking.py --config pipelines/configs/ranking_movielens.yaml --run runs/ml-ranking

Candidate-list configs (``candidates.retrieval_run``) need that retrieval run trained first.
TensorBoard: ``tensorboard --logdir RUN/tensorboard``.
"""

import argparse

import yaml

import tfrec  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfrec.config import RankingConfig, load_config
from tfrec.training.ranking_trainer import train_ranking


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML ranking config (see pipelines/configs/ranking_*.yaml)")
    parser.add_argument("--run", required=True, help="run folder to write")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=3")
    args = parser.parse_args()
    overrides = {}
    for text in args.set:
        if "=" not in text:
            parser.error(f"--set expects KEY=VALUE, got {text!r}")
        key, value = text.split("=", 1)
        overrides[key] = yaml.safe_load(value)
    train_ranking(load_config(args.config, RankingConfig, overrides=overrides), args.run)


if __name__ == "__main__":
    main()
