"""The built-in synthetic multimodal data set.

A small generative world in which item *content* carries the signal a
recommender should learn, and ids carry extra signal on top, so that text,
image and id towers each have something to find:

* Topics. Each topic has a vocabulary (``space`` -> ``orbit``, ``rocket``...)
  and a visual style (a base colour and a shape drawn with numpy). A few
  filler words are shared by all topics as noise.
* Items. A topic mixture that is mostly one topic; a title of 2-4 topic words
  plus a number; a description of 15-40 words drawn mostly from the item's
  topics; a PNG image in its dominant topic's style with item-specific
  colour, geometry and noise; a ``category`` equal to the dominant topic name
  except for ~15% noise; a ``price_band``; a random identity vector; and a
  Zipf-like popularity.
* Users. A Dirichlet taste over topics concentrated on one or two topics that
  drifts slightly over time, a personal identity vector, a ``region`` weakly
  tied to the main topic and an ``age``.
* Interactions. Each user picks a count around the mean (at least
  ``min_interactions``) and samples that many distinct items with probability
  proportional to ``exp(affinity) * popularity`` (Gumbel-top-k), where
  affinity is ``topic_scale * taste . mixture + identity_scale * u . v``. The
  picks are ordered in time so that later ones lean towards the drifted
  taste, which makes recent history informative. Ratings (1-5) follow
  affinity plus noise.

Everything is deterministic by ``seed``: items from one random stream and
each block of users from its own stream, so :func:`generate` (in memory) and
:func:`user_blocks` (streamed, for tens of millions of interactions with
memory bounded by ``block_users``; what ``tfrec data shard`` writes) produce
the same interactions for the same configuration.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from typing import Iterator

import numpy as np
import pandas as pd

from tfrec.atomic import atomic_directory
from tfrec.config.data import SyntheticConfig
from tfrec.data.schema import RecDataset

NAME = "synthetic"
ITEM_CATEGORICAL = ("category", "price_band")
USER_CATEGORICAL = ("region",)
USER_NUMERIC = ("age",)
_SAMPLE_CHUNK = 256  # users scored together; bounds the score matrix size

# Topic name, vocabulary, base colour (RGB), shape.
_THEMES = [
    ("space", "orbit rocket galaxy nebula comet planet astronaut star lunar cosmos "
     "telescope meteor satellite gravity eclipse launch", (40, 40, 160), "circles"),
    ("ocean", "wave coral reef tide dolphin whale harbor sailor shell lagoon "
     "current anchor surf kelp island diver", (0, 150, 200), "stripes"),
    ("forest", "pine moss fern oak trail deer owl canopy timber mushroom grove "
     "acorn lichen cabin bark woodland", (30, 130, 40), "triangles"),
    ("city", "street tower subway traffic neon alley skyline bridge downtown "
     "taxi avenue loft plaza crowd concrete metro", (120, 120, 120), "squares"),
    ("kitchen", "recipe spice bread butter garlic oven soup pastry basil kettle "
     "noodle roast skillet flavor dough sauce", (220, 120, 30), "checker"),
    ("music", "guitar melody rhythm chord drum piano lyric tempo chorus violin "
     "album bass harmony encore vinyl concert", (170, 40, 170), "rings"),
    ("sports", "goal stadium sprint coach league racket match trophy dribble "
     "referee marathon tackle inning medal team score", (220, 30, 40), "diagonal"),
    ("history", "empire castle scroll dynasty knight ruin chronicle pharaoh "
     "relic archive treaty monarch siege temple legend era", (140, 90, 40), "dots"),
    ("desert", "dune cactus oasis camel mirage sand canyon scorpion nomad mesa "
     "sunbaked caravan arid sirocco rock lizard", (230, 200, 90), "cross"),
    ("mountain", "summit glacier peak ridge alpine climber avalanche valley "
     "boulder cliff snowfield pass crag yak ascent slope", (200, 220, 240), "triangles"),
    ("fashion", "silk denim runway velvet tailor couture fabric stitch boutique "
     "scarf pattern linen sequin collar gown hem", (240, 120, 180), "stripes"),
    ("tech", "circuit pixel robot laser chip code network server drone sensor "
     "cloud binary gadget kernel router data", (0, 200, 170), "checker"),
]
_SHARED_WORDS = (
    "the new classic best story guide collection edition great simple little "
    "big modern complete ultimate daily essential wild bright hidden"
).split()
_REGIONS = ("north", "south", "east", "west", "central", "coast")
_PRICE_BANDS = ("low", "mid", "high")
_SHAPES = ("circles", "stripes", "triangles", "squares", "checker", "rings", "diagonal", "dots", "cross")
_SYLLABLES = "ka lo mi ne ru sa ti vo ze pa fi gu ha jo be".split()


# --- topics -----------------------------------------------------------------


@dataclasses.dataclass
class _Topic:
    name: str
    words: list[str]
    colour: np.ndarray
    shape: str


def _topics(num_topics: int) -> list[_Topic]:
    """The first topics come from the themes; further ones get pseudo-words."""
    topics = []
    for t in range(num_topics):
        if t < len(_THEMES):
            name, words, colour, shape = _THEMES[t]
            topics.append(_Topic(name, words.split(), np.array(colour, float), shape))
            continue
        rng = np.random.default_rng([7919, t])
        words = sorted(
            {"".join(rng.choice(_SYLLABLES, size=rng.integers(2, 4))) for _ in range(24)}
        )[:16]
        hue = (t * 0.61803) % 1.0
        colour = 255 * np.clip(np.abs((hue * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)
        topics.append(_Topic(f"topic{t + 1}", words, colour, _SHAPES[t % len(_SHAPES)]))
    return topics


# --- items ------------------------------------------------------------------


@dataclasses.dataclass
class _World:
    """Item-side latent state, kept for the whole run (size O(num_items))."""

    topics: list[_Topic]
    items: pd.DataFrame
    mixture: np.ndarray  # (items, topics)
    dominant: np.ndarray  # (items,)
    identity: np.ndarray  # (items, identity_dim)
    log_popularity: np.ndarray  # (items,)


def _item_ids(n: int) -> np.ndarray:
    return np.array([f"i{i + 1}" for i in range(n)], dtype=object)


def _build_world(config: SyntheticConfig, image_folder: str, final_image_folder: str) -> _World:
    """Draws item latents, writes the item images and builds the items table."""
    rng = np.random.default_rng([config.seed, 0])
    n, k = config.num_items, config.num_topics
    topics = _topics(k)
    dominant = rng.integers(0, k, size=n)
    mass_elsewhere = rng.uniform(0.05, 0.35, size=n)
    mixture = rng.dirichlet(np.full(k, 0.5), size=n) * mass_elsewhere[:, None]
    mixture[np.arange(n), dominant] += 1.0 - mass_elsewhere
    identity = rng.normal(size=(n, config.identity_dim))
    ranks = rng.permutation(n) + 1.0
    log_popularity = -config.popularity_exponent * np.log(ranks)

    noisy = rng.random(n) < config.category_noise
    category_topic = np.where(noisy, rng.integers(0, k, size=n), dominant)
    price_band = np.array(
        [_PRICE_BANDS[(t + int(b)) % 3] for t, b in zip(dominant, rng.random(n) < 0.4)], object
    )
    ids = _item_ids(n)
    titles, texts = [], []
    for i in range(n):
        topic = topics[dominant[i]]
        words = rng.choice(topic.words, size=rng.integers(2, 5), replace=False)
        titles.append(" ".join(w.capitalize() for w in words) + f" {i + 1}")
        length = int(rng.integers(15, 41))
        word_topics = rng.choice(k, size=length, p=mixture[i])
        filler = rng.random(length) < config.word_noise
        texts.append(
            " ".join(
                _SHARED_WORDS[rng.integers(len(_SHARED_WORDS))]
                if filler[j]
                else topics[word_topics[j]].words[rng.integers(len(topics[word_topics[j]].words))]
                for j in range(length)
            )
        )

    os.makedirs(image_folder, exist_ok=True)
    paths = []
    for i in range(n):
        image = _draw(topics[dominant[i]], config.image_size, config.image_noise, rng)
        name = f"{ids[i]}.png"
        _write_png(image, os.path.join(image_folder, name))
        paths.append(os.path.join(final_image_folder, name))

    items = pd.DataFrame(
        {
            "item_id": ids,
            "title": titles,
            "text": texts,
            "image_path": paths,
            "category": [topics[t].name for t in category_topic],
            "price_band": price_band,
        }
    )
    return _World(topics, items, mixture, dominant, identity, log_popularity)


def _draw(topic: _Topic, size: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """One item image: the topic's shape in the topic's colour, varied per item."""
    y, x = np.mgrid[0:size, 0:size] / size
    cx, cy = rng.uniform(0.3, 0.7, size=2)
    r = rng.uniform(0.15, 0.35)
    freq = rng.uniform(3, 6)
    phase = rng.uniform(0, 1)
    d = np.hypot(x - cx, y - cy)
    masks = {
        "circles": d < r,
        "rings": np.abs(d - r) < 0.07,
        "stripes": (y * freq + phase) % 1 < 0.5,
        "diagonal": ((x + y) * freq / 1.5 + phase) % 1 < 0.5,
        "squares": (np.abs(x - cx) < r) & (np.abs(y - cy) < r),
        "triangles": (y > cy - r) & (y < cy + r) & (np.abs(x - cx) < (y - (cy - r)) / 2),
        "checker": (np.floor(x * freq + phase) + np.floor(y * freq + phase)) % 2 == 0,
        "dots": ((x * freq + phase) % 1 - 0.5) ** 2 + ((y * freq + phase) % 1 - 0.5) ** 2 < 0.09,
        "cross": (np.abs(x - cx) < r / 3) | (np.abs(y - cy) < r / 3),
    }
    mask = masks[topic.shape]
    foreground = np.clip(topic.colour + rng.normal(0, 20, size=3), 0, 255)
    background = np.clip(rng.uniform(150, 240) + rng.normal(0, 25, size=3), 0, 255)
    image = np.where(mask[..., None], foreground, background)
    image = image + rng.normal(0, noise, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _write_png(image: np.ndarray, path: str) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(buffer, format="PNG")
    with open(path, "wb") as f:
        f.write(buffer.getvalue())


# --- users and interactions ---------------------------------------------------


def _num_blocks(config: SyntheticConfig) -> int:
    return -(-config.num_users // config.block_users)


def _user_block(
    config: SyntheticConfig, world: _World, block: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users ``block * block_users ...`` and their interactions, time-ordered per user."""
    rng = np.random.default_rng([config.seed, 1, block])
    start = block * config.block_users
    b = min(config.block_users, config.num_users - start)
    k = config.num_topics

    primary = rng.integers(0, k, size=b)
    secondary = rng.integers(0, k, size=b)
    alpha = np.full((b, k), 0.1)
    alpha[np.arange(b), primary] += 3.0
    has_secondary = rng.random(b) < 0.5
    alpha[np.arange(b)[has_secondary], secondary[has_secondary]] += 1.5
    taste = _dirichlet_rows(rng, alpha)
    drifted = (1 - config.taste_drift) * taste + config.taste_drift * _dirichlet_rows(
        rng, np.full((b, k), 0.3)
    )
    identity = rng.normal(size=(b, config.identity_dim))
    cap = max(config.min_interactions, min(config.num_items // 2, int(5 * config.mean_interactions_per_user)))
    counts = np.exp(rng.normal(-config.count_sigma**2 / 2, config.count_sigma, size=b))
    counts = np.clip(np.rint(counts * config.mean_interactions_per_user), config.min_interactions, cap)
    counts = np.minimum(counts.astype(np.int64), config.num_items)

    region_is_topic = rng.random(b) < 0.4
    region = np.where(region_is_topic, primary % len(_REGIONS), rng.integers(0, len(_REGIONS), size=b))
    age = np.clip(rng.normal(30 + 2.5 * (primary % 5), 10), 16, 80)
    users = pd.DataFrame(
        {
            "user_id": np.array([f"u{start + j + 1}" for j in range(b)], dtype=object),
            "region": np.array(_REGIONS, dtype=object)[region],
            "age": age.astype(np.float32),
        }
    )

    mean_taste = (taste + drifted) / 2
    # Users with similar counts are sampled together so the per-user
    # candidate width (a multiple of the largest count) is not wasted.
    by_count = np.argsort(counts, kind="stable")
    user_rows, item_rows, affinity = [], [], []
    for lo in range(0, b, _SAMPLE_CHUNK):
        chunk = by_count[lo : lo + _SAMPLE_CHUNK]
        picked, aff = _sample_items(config, world, rng, mean_taste[chunk], identity[chunk], counts[chunk])
        rows = np.nonzero(picked >= 0)
        user_rows.append(chunk[rows[0]])
        item_rows.append(picked[rows])
        affinity.append(aff[rows])
    user_rows = np.concatenate(user_rows)
    item_rows = np.concatenate(item_rows)
    affinity = np.concatenate(affinity)

    # Later interactions lean towards the drifted taste.
    direction = drifted - taste
    direction /= np.abs(direction).sum(axis=1, keepdims=True) + 1e-9
    lean = np.einsum("nk,nk->n", world.mixture[item_rows], direction[user_rows])
    order_key = config.order_strength * lean + rng.gumbel(size=len(lean))
    order = np.lexsort((order_key, user_rows))
    user_rows, item_rows, affinity = user_rows[order], item_rows[order], affinity[order]

    timestamps = _timestamps(config, rng, user_rows, b)
    stars = 1.5 + 0.5 * affinity + rng.normal(0, config.rating_noise, size=len(affinity))
    ratings = np.clip(np.rint(stars), 1, 5).astype(np.float32)
    interactions = pd.DataFrame(
        {
            "user_id": users["user_id"].to_numpy()[user_rows],
            "item_id": world.items["item_id"].to_numpy()[item_rows],
            "timestamp": timestamps,
            "rating": ratings,
        }
    )
    return users, interactions


def _dirichlet_rows(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """One Dirichlet draw per row of ``alpha`` (row-specific concentrations)."""
    g = rng.standard_gamma(alpha)
    return g / g.sum(axis=1, keepdims=True)


def _sample_items(
    config: SyntheticConfig,
    world: _World,
    rng: np.random.Generator,
    taste: np.ndarray,
    identity: np.ndarray,
    counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Gumbel-top-k: ``counts[u]`` distinct items per user, ∝ exp(affinity) x popularity.

    Returns item indices (users x max count, ``-1`` past a user's count) and
    the affinity (without popularity) of each pick.
    """
    b = len(counts)
    identity_weight = config.identity_scale / np.sqrt(config.identity_dim)
    if config.num_items <= config.exact_items_limit:
        candidates = np.broadcast_to(np.arange(config.num_items), (b, config.num_items))
        prior = world.log_popularity[None, :]
        affinity = config.topic_scale * taste @ world.mixture.T
        affinity += identity_weight * identity @ world.identity.T
    else:
        candidates, log_q = _topic_candidates(config, world, rng, taste, counts)
        prior = world.log_popularity[candidates] - log_q
        affinity = config.topic_scale * np.einsum("bk,bck->bc", taste, world.mixture[candidates])
        affinity += identity_weight * np.einsum("bd,bcd->bc", identity, world.identity[candidates])
    # Gumbel noise in float32 (half the cost of float64); u = 0 gives -inf, never picked.
    with np.errstate(divide="ignore"):
        keys = -np.log(-np.log(rng.random(affinity.shape, dtype=np.float32)))
    keys += affinity
    keys += prior
    if config.num_items > config.exact_items_limit:
        # A candidate drawn several times keeps its best key, which is how
        # sampling-importance-resampling counts repeated proposals.
        order = np.lexsort((keys, candidates), axis=-1)
        candidates = np.take_along_axis(candidates, order, 1)
        keys = np.take_along_axis(keys, order, 1)
        affinity = np.take_along_axis(affinity, order, 1)
        keys[:, :-1][candidates[:, :-1] == candidates[:, 1:]] = -np.inf
    top = int(counts.max())
    best = np.argpartition(keys, keys.shape[1] - top, axis=1)[:, -top:]
    best = np.take_along_axis(best, np.argsort(-np.take_along_axis(keys, best, 1), axis=1), 1)
    valid = (np.arange(top)[None, :] < counts[:, None]) & np.isfinite(np.take_along_axis(keys, best, 1))
    picked = np.where(valid, np.take_along_axis(candidates, best, 1), -1)
    return picked, np.take_along_axis(affinity, best, 1)


def _topic_candidates(
    config: SyntheticConfig,
    world: _World,
    rng: np.random.Generator,
    taste: np.ndarray,
    counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates for large catalogues: topic ~ smoothed taste, item ~ popularity^power within topic.

    Flattening popularity (``candidate_popularity_power`` < 1) reaches into
    the tail, which the exact sampler visits once a user's head items are
    taken. Returns candidate indices (with repeats) and ``log q``, the log
    proposal probability, to subtract from the Gumbel keys.
    """
    b, k = taste.shape
    c = min(config.num_items, config.candidate_factor * int(counts.max()))
    proposal = 0.8 * taste + 0.2 / k
    by_topic = np.argsort(world.dominant, kind="stable")
    power = config.candidate_popularity_power
    popularity = np.exp(power * world.log_popularity[by_topic])
    cumulative = np.cumsum(popularity)
    topic_sizes = np.bincount(world.dominant, minlength=k)
    topic_end = np.cumsum(topic_sizes)
    topic_start = topic_end - topic_sizes
    mass_end = np.where(topic_end > 0, cumulative[np.maximum(topic_end - 1, 0)], 0.0)
    mass_start = np.concatenate([[0.0], mass_end[:-1]])
    mass_start = np.where(topic_sizes > 0, mass_start, 0.0)
    topic_mass = mass_end - mass_start
    proposal = np.where(topic_sizes[None, :] > 0, proposal, 0.0)
    proposal /= proposal.sum(axis=1, keepdims=True)

    chosen = (rng.random((b, c, 1)) > np.cumsum(proposal, axis=1)[:, None, :]).sum(axis=2)
    chosen = np.minimum(chosen, k - 1)
    target = mass_start[chosen] + rng.random((b, c)) * topic_mass[chosen]
    position = np.searchsorted(cumulative, target, side="right")
    position = np.clip(position, topic_start[chosen], topic_end[chosen] - 1)
    candidates = by_topic[position]
    dominant = world.dominant[candidates]
    log_q = np.log(np.take_along_axis(proposal, dominant, 1) / topic_mass[dominant])
    log_q += power * world.log_popularity[candidates]
    return candidates, log_q


def _timestamps(
    config: SyntheticConfig, rng: np.random.Generator, user_rows: np.ndarray, b: int
) -> np.ndarray:
    """Strictly increasing times per user inside the window; rows are grouped by user."""
    window = config.time_window_days * 86_400
    counts = np.bincount(user_rows, minlength=b)
    span = rng.uniform(0.2, 1.0, size=b) * window - counts
    first = rng.uniform(0, 1, size=b) * (window - counts - span)
    cumulative = np.concatenate([[0.0], np.cumsum(rng.exponential(size=len(user_rows)))])
    ends = np.cumsum(counts)
    starts = ends - counts
    before = np.repeat(cumulative[starts], counts)
    total = np.repeat(cumulative[ends] - cumulative[starts], counts)
    fraction = (cumulative[1:] - before) / total  # in (0, 1]; a user's last row is 1
    position = np.arange(len(user_rows)) - np.repeat(starts, counts)
    offset = np.floor(fraction * np.repeat(span, counts)) + position
    return (config.start_time + np.repeat(first, counts) + offset).astype(np.int64)


def _blocks(config: SyntheticConfig, world: _World) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    for block in range(_num_blocks(config)):
        yield _user_block(config, world, block)


# --- public entry points -----------------------------------------------------


def _dataset(config: SyntheticConfig, world: _World) -> RecDataset:
    users, interactions = zip(*_blocks(config, world))
    return RecDataset(
        name=NAME,
        interactions=pd.concat(interactions, ignore_index=True),
        items=world.items,
        users=pd.concat(users, ignore_index=True),
        item_categorical=ITEM_CATEGORICAL,
        user_categorical=USER_CATEGORICAL,
        user_numeric=USER_NUMERIC,
    )


def generate(config: SyntheticConfig, folder: str) -> RecDataset:
    """Generates the data set in memory; images go to ``folder/images/<item_id>.png``.

    Interactions are grouped by user and time-ordered within each user.
    """
    images = os.path.join(os.path.abspath(folder), "images")
    with atomic_directory(images) as tmp:
        world = _build_world(config, tmp, images)
    return _dataset(config, world)


def load_or_generate(config: SyntheticConfig, cache_folder: str) -> RecDataset:
    """The data set for ``config``, generated once into ``cache_folder/synthetic-<hash>``."""
    folder = os.path.join(os.path.abspath(cache_folder), f"{NAME}-{config.key()}")
    if os.path.exists(os.path.join(folder, "dataset", "schema.json")):
        return RecDataset.load(os.path.join(folder, "dataset"))
    with atomic_directory(folder, if_exists="keep") as tmp:  # two runs generating at once: the first stays
        world = _build_world(config, os.path.join(tmp, "images"), os.path.join(folder, "images"))
        dataset = _dataset(config, world)
        dataset.save(os.path.join(tmp, "dataset"))
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(dataclasses.asdict(config), f, indent=2)
    return dataset


def build_world(config: SyntheticConfig, image_folder: str) -> _World:
    """The item side of the world (latents, catalogue, images written into ``image_folder``), whose
    ``image_path`` column names the images relative to the folder holding ``image_folder``."""
    return _build_world(config, image_folder, os.path.basename(os.path.abspath(image_folder)))


def user_blocks(config: SyntheticConfig, world: _World) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """``(users, interactions)`` a block of ``config.block_users`` users at a time: what streams."""
    yield from _blocks(config, world)
