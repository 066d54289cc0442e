"""The ``data`` section: where interactions come from and how they are split.

Sources: ``synthetic`` (built in, ``data.synthetic``), ``movielens`` (a
MovieLens 100K folder at ``data.path``) and ``tabular`` (the user's CSV/Parquet
files, ``data.tabular`` with its column ``mapping``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from tfrec.config.typed import Section, setting
from tfrec.errors import ConfigError

SOURCES = ("synthetic", "movielens", "tabular", "sharded")
SPLITS = ("temporal", "temporal_leave_last_out", "random")


@dataclasses.dataclass
class SyntheticConfig(Section):
    """Size and shape of the built-in synthetic world (``tfrec.data.synthetic``); every field
    enters the cache key, and the whole data set is a function of them."""

    num_users: int = setting(2000, ge=1, help="users")
    num_items: int = setting(1000, ge=2, help="items")
    mean_interactions_per_user: float = setting(30, gt=0, help="mean of the per-user count (log-normal)")
    num_topics: int = setting(8, ge=1, help="topics; the first 12 have hand-written themes")
    image_size: int = setting(32, ge=4, le=1024, help="side of the square RGB item images")
    seed: int = setting(0, help="seed of the whole data set")
    min_interactions: int = setting(5, ge=1, help="floor of the per-user count")
    count_sigma: float = setting(0.5, ge=0, help="log-normal spread of the per-user count")
    popularity_exponent: float = setting(0.9, ge=0, help="Zipf exponent of item popularity (0: uniform)")
    topic_scale: float = setting(6.0, ge=0, help="weight of taste . topic mixture in the affinity")
    identity_scale: float = setting(1.0, ge=0, help="weight of the user-item identity vectors' product")
    identity_dim: int = setting(16, ge=1, help="size of the identity vectors")
    taste_drift: float = setting(0.3, ge=0, le=1, help="share of a user's taste that moves to new topics over time")
    order_strength: float = setting(6.0, ge=0, help="how strongly later interactions follow the drifted taste")
    category_noise: float = setting(0.15, ge=0, le=1, help="share of items whose category is a random topic")
    word_noise: float = setting(0.25, ge=0, le=1, help="share of description words drawn from shared fillers")
    rating_noise: float = setting(0.6, ge=0, help="standard deviation of the rating noise (stars)")
    image_noise: float = setting(12.0, ge=0, help="standard deviation of the pixel noise (0-255 scale)")
    time_window_days: int = setting(730, ge=1, help="interactions fall in this window after start_time")
    start_time: int = setting(1_577_836_800, ge=0, help="Unix seconds of the window start (2020-01-01)")
    block_users: int = setting(10_000, ge=1, help="users generated together; bounds streaming memory")
    exact_items_limit: int = setting(4096, ge=1, help="up to this many items users sample from the exact "
                                                      "softmax; above it from a topic-guided candidate set")
    candidate_factor: int = setting(8, ge=1, help="candidates per interaction above exact_items_limit")
    candidate_popularity_power: float = setting(0.5, ge=0, help="popularity power of candidate draws")

    def key(self) -> str:
        """A short hash of every field, naming cached copies of the data set."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass
class ColumnMapping(Section):
    """Names of the user's columns for each schema field.

    ``user_id`` and ``item_id`` name the id columns in the interactions file
    and in the users/items files alike. Optional fields left null are filled
    with their empty value (rating: 1.0, implicit feedback).
    """

    user_id: str = setting("user_id", help="user id column (interactions and users files)")
    item_id: str = setting("item_id", help="item id column (interactions and items files)")
    timestamp: str = setting("timestamp", help="time column: Unix seconds or ISO-8601 (no zone: UTC)")
    rating: str | None = setting(None, help="rating column (finite, >= 0); null: every interaction counts 1.0")
    title: str | None = setting(None, help="items file: title column (printed with recommendations; its words are an "
                                                 "item feature)")
    text: str | None = setting(None, help="items file: description column (read by the text encoder; "
                                                "model.content)")
    image_path: str | None = setting(None, help="items file: image file column; a relative path is "
                                                      "taken from the items file's folder")
    item_categorical: tuple[str, ...] = setting(factory=tuple, help="items file: categorical columns "
                                                                     "(several values joined by '|')")
    user_categorical: tuple[str, ...] = setting(factory=tuple, help="users file: categorical columns")
    user_numeric: tuple[str, ...] = setting(factory=tuple, help="users file: numeric columns")

    @property
    def item_columns(self) -> tuple:
        """Mapped item content columns (besides the id)."""
        optional = tuple(c for c in (self.title, self.text, self.image_path) if c)
        return optional + self.item_categorical

    @property
    def user_columns(self) -> tuple:
        return self.user_categorical + self.user_numeric


@dataclasses.dataclass
class TabularConfig(Section):
    """The user's own files (``data.source: tabular``): CSV (``.tsv``: tab-separated) with a
    header line, or Parquet. Paths are relative to the working directory."""

    interactions: str = setting("", help="interactions file: user, item, time and optional rating "
                                            "columns (required with source: tabular)")
    items: str | None = setting(None, help="items file, one row per item (null: ids from interactions only)")
    users: str | None = setting(None, help="users file, one row per user (null: ids from interactions only)")
    mapping: ColumnMapping = setting(factory=ColumnMapping, help="which column holds what")
    name: str = setting("custom", help="the data set's name in reports")

    def validate(self):
        if self.items is None and self.mapping.item_columns:
            raise ConfigError(f"mapping names item columns {list(self.mapping.item_columns)} but no items file "
                              "is given (set items)")
        if self.users is None and self.mapping.user_columns:
            raise ConfigError(f"mapping names user columns {list(self.mapping.user_columns)} but no users file "
                              "is given (set users)")


@dataclasses.dataclass
class VocabularyConfig(Section):
    """How the id vocabularies are cut from the training counts (ids left out share the OOV buckets)."""

    min_count: int = setting(1, ge=1, help="ids with fewer training interactions are out of vocabulary")
    max_size: int = setting(0, ge=0, help="keep at most this many of the most frequent ids (0: all)")


@dataclasses.dataclass
class DataConfig(Section):
    """Where interactions come from and how they are split."""

    source: str = setting("synthetic", choices=SOURCES,
                          help="synthetic (built in), movielens, tabular (your files) or sharded (a folder "
                               "written by tfrec data shard: larger than memory, split by time)")
    path: str = setting("", help="the MovieLens 100K folder (source: movielens) or the sharded data set's "
                                 "folder (source: sharded); required with those sources")
    synthetic: SyntheticConfig = setting(factory=SyntheticConfig, help="the built-in data set's shape")
    tabular: TabularConfig = setting(factory=TabularConfig, help="the user's files")
    split: str = setting("temporal", choices=SPLITS,
                         help="temporal: each user's last interaction is test, the one before validation; "
                              "random: a random test_fraction is test")
    test_fraction: float = setting(0.2, gt=0, lt=1, help="share of interactions in test (split: random)")
    val_fraction: float = setting(0.0, ge=0, lt=1, help="share of interactions in validation (split: random); "
                                                        "retrieval needs some to stop early on, a ranker of "
                                                        "interaction rows otherwise holds train.validation_fraction "
                                                        "of its training rows out")
    skip_bad_rows: bool = setting(False, help="skip and count bad input rows instead of failing")
    cache_dir: str = setting("data_cache", help="where the generated synthetic data set is cached")
    cold_item_fraction: float = setting(0.0, ge=0, lt=1, help="share of items held out of training entirely; "
                                                                 "their interactions become the cold-start test")
    cold_item_seed: int = setting(7, help="seed of the cold items' choice")
    drop_latest: int = setting(0, ge=0, help="each user's latest N interactions are removed before splitting: "
                                              "the data as it stood N interactions earlier")
    eval_users: int = setting(0, ge=0, help="validation and test rank the whole catalogue for a sample of this "
                                            "many users, the same every epoch (0: every user; sharded data "
                                            "sets: 10,000)")
    shuffle_buffer: int = setting(100_000, ge=1, help="training interactions shuffled together while "
                                                      "streaming (source: sharded)")
    vocabulary: VocabularyConfig = setting(factory=VocabularyConfig, help="how the id vocabularies are cut")
    events: str = setting("", help="an event store (SQLite file or redis:// URL) whose events join the "
                                   "interactions: the feedback gathered since the last training (tfrec events)")

    def validate(self):
        if self.source in ("movielens", "sharded") and not self.path:
            what = "the MovieLens 100K folder" if self.source == "movielens" else "the sharded data set's folder"
            raise ConfigError(f"path must name {what} when source is {self.source!r}")
        if self.sharded and self.events:
            raise ConfigError("events join in-memory sources; for a sharded data set, write the events into "
                              "its shards (tfrec data shard) instead")
        if self.sharded and (self.cold_item_fraction or self.drop_latest):
            raise ConfigError("a sharded data set is split by time when it is written: cold_item_fraction and "
                              "drop_latest are for the in-memory sources")
        if self.split == "random" and self.test_fraction + self.val_fraction >= 1:
            raise ConfigError(f"test_fraction {self.test_fraction} + val_fraction {self.val_fraction} leave no "
                              "training interactions (their sum must be < 1)")
        if self.source == "tabular" and not self.tabular.interactions:
            raise ConfigError("tabular.interactions must name the interactions file when source is 'tabular'")

    def unread(self) -> dict[str, str]:
        unread = {}
        if self.source != "synthetic":
            unread["synthetic"] = unread["cache_dir"] = f"data.source is {self.source!r}, not 'synthetic'"
        if self.source != "tabular":
            unread["tabular"] = f"data.source is {self.source!r}, not 'tabular'"
        if self.source not in ("movielens", "sharded"):
            unread["path"] = (f"data.source is {self.source!r}; data.path names a MovieLens or sharded folder "
                              + ("(your files are data.tabular.interactions/items/users)"
                                 if self.source == "tabular" else "(source: movielens or sharded)"))
        if self.source in ("synthetic", "sharded"):
            unread["skip_bad_rows"] = f"the {self.source} data set has no input rows to skip"
        if self.sharded:
            unread["split"] = "a sharded data set was split by time when it was written (tfrec data shard)"
        else:
            unread["shuffle_buffer"] = "in-memory sources shuffle all their training interactions"
        if self.split != "random" or self.sharded:
            unread["test_fraction"] = f"data.split is {self.split!r}; test_fraction is for split: random"
            unread["val_fraction"] = f"data.split is {self.split!r}; val_fraction is for split: random"
        if not self.cold_item_fraction:
            unread["cold_item_seed"] = "data.cold_item_fraction is 0 (no cold items)"
        return unread

    @property
    def temporal(self) -> bool:
        return self.split != "random" or self.sharded

    @property
    def sharded(self) -> bool:
        return self.source == "sharded"
