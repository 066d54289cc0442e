"""Throughput of the synthetic data set generators, with peak memory.

Usage: python benchmarks/synthetic_generation.py [--interactions 1000000]

Prints one row per generator: interactions per second (wall and CPU time)
and the process's peak resident set size after that run. ``generate`` runs
first, so its peak RSS includes TensorFlow only if the import already
happened; ``tfrec data shard`` (``write_sharded``) imports TensorFlow for the record writer.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import tfrec  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
from tfrec.config import DataConfig
from tfrec.data import synthetic
from tfrec.data.shard_writer import write_sharded


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(name, function):
    wall, cpu = time.perf_counter(), time.process_time()
    count = function()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return name, count, wall, cpu, _peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()
    config = synthetic.SyntheticConfig(
        num_users=max(1, round(args.interactions / 30)), num_items=args.items
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows.append(
            _run("generate", lambda: len(synthetic.generate(config, f"{folder}/memory").interactions))
        )
        rows.append(
            _run(
                "data shard",
                lambda: write_sharded(DataConfig(synthetic=config), f"{folder}/stream",
                                      log=lambda *_: None)["num_interactions"],
            )
        )
    print(f"users={config.num_users:,} items={config.num_items:,} block_users={config.block_users:,}")
    print(f"{'generator':<16}{'interactions':>14}{'wall s':>9}{'cpu s':>9}{'inter/s (wall)':>16}{'peak RSS MB':>13}")
    for name, count, wall, cpu, rss in rows:
        print(f"{name:<16}{count:>14,}{wall:>9.2f}{cpu:>9.2f}{count / wall:>16,.0f}{rss:>13,.0f}")


if __name__ == "__main__":
    main()
