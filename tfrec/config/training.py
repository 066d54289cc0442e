"""Settings every ``model.fit`` of tfrec shares (retrieval and ranking), and the evaluation's."""

from __future__ import annotations

import dataclasses
import re
import typing

from tfrec.config.typed import Section, given_keys, setting
from tfrec.errors import ConfigError

OPTIMIZERS = ("adam", "adagrad", "sgd")
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "parameter_server")


@dataclasses.dataclass
class FitConfig(Section):
    """``model.fit`` settings. ``strategy``: see ``docs/distributed.md``; ``batch_size`` is per replica."""

    batch_size: int = setting(1024, ge=1, help="examples per replica and step")
    epochs: int = setting(30, ge=1, help="most epochs to train (early stopping may end sooner)")
    learning_rate: float = setting(0.005, gt=0, help="the optimizer's learning rate")
    optimizer: str = setting("adam", choices=OPTIMIZERS, help="adam, adagrad or sgd")
    strategy: str = setting("auto", choices=STRATEGIES, help="the tf.distribute strategy; auto takes the "
                                                             "machine's GPUs, else the CPU")
    early_stopping_patience: int = setting(3, ge=1, help="epochs without a better validation metric before "
                                                         "training stops")
    seed: int = setting(42, help="seed of weights, shuffling and random splits")
    verbose: int = setting(0, ge=0, le=2, help="Keras' progress output (0: one line per epoch from tfrec)")
    keep_checkpoints: int = setting(3, ge=1, help="epoch checkpoints kept in checkpoints/")
    backup: bool = setting(True, help="keep backup/ while training, so a rerun after a kill resumes")
    histogram_freq: int = setting(1, ge=0, help="TensorBoard weight histograms every N epochs (0: none)")
    profile_batch: typing.Union[int, str] = setting(0, help="TensorBoard profiler: 0 (off), a batch (5) or a "
                                                            "range ('5,8')")

    def validate(self):
        value = self.profile_batch
        if isinstance(value, int) and value < 0 or isinstance(value, str) and not re.fullmatch(r"\d+,\d+", value):
            raise ConfigError(f"profile_batch must be 0, a batch number or a range like '5,8', got {value!r}")


@dataclasses.dataclass
class EvalConfig(Section):
    """Full-ranking evaluation: Recall@K, NDCG@K, HitRate@K at these K."""

    ks: list[int] = setting(factory=lambda: [1, 5, 10, 20, 50], ge=1, nonempty=True,
                            help="cut-offs K (each <= the catalogue size; default ones beyond it are dropped)")
    batch_size: int = setting(512, ge=1, help="users scored together")

    def for_catalogue(self, num_items: int, log=print) -> "EvalConfig":
        """These settings for a catalogue of ``num_items``: given K beyond it are an error, default ones dropped."""
        too_large = [k for k in self.ks if k > num_items]
        if not too_large:
            return self
        if "ks" in given_keys(self):
            raise ConfigError(f"eval.ks {too_large} exceed the catalogue of {num_items} item(s); "
                              f"each K must be at most {num_items}")
        kept = [k for k in self.ks if k <= num_items] or [num_items]
        log(f"eval.ks: {too_large} dropped, the catalogue has {num_items} item(s); evaluating at {kept}")
        return dataclasses.replace(self, ks=kept)
