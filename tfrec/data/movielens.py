"""MovieLens 100K as a :class:`RecDataset`, with TMDB overviews and posters when present.

Accepted layouts:

* the multimodal folder: ``<folder>/ml-100k/u.data`` etc., plus optional
  ``<folder>/tmdb_items.csv`` (overviews) and ``<folder>/posters/<id>.jpg``;
* a plain GroupLens ``ml-100k`` folder (``<folder>/u.data``): items then have
  empty text and no image.

Items without an overview or a poster are kept (their id, title, genres and
year still carry signal) and counted in the report.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from tfrec.data.schema import MULTI_VALUE_SEPARATOR, RecDataset
from tfrec.data.validation import (
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    BadRowError,
    RowChecker,
    ValidationReport,
    drop_duplicate_ids,
    drop_unusable_images,
    interactions_frame,
    read_delimited,
)
from tfrec.errors import MissingFileError

NAME = "movielens-100k"

STANDARD_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
"""The 19 genre flags of ``u.item``, in file order, used when ``u.genre`` is absent."""

ITEM_CATEGORICAL = ("genres", "year")
USER_CATEGORICAL = ("gender", "occupation", "zip_prefix")
USER_NUMERIC = ("age",)


def find_movielens_files(folder) -> dict:
    """Paths of the MovieLens files in either layout; optional ones may be None.

    Raises:
      FileNotFoundError: neither ``folder/ml-100k/u.data`` nor ``folder/u.data`` exists.
    """
    folder = os.path.abspath(str(folder))
    if not os.path.isdir(folder):
        raise MissingFileError(f"MovieLens folder {folder} does not exist")
    nested = os.path.join(folder, "ml-100k")
    if os.path.exists(os.path.join(nested, "u.data")):
        ml = nested
    elif os.path.exists(os.path.join(folder, "u.data")):
        ml = folder
    else:
        raise MissingFileError(
            f"no MovieLens 100K files in {folder}: expected {nested}/u.data "
            f"or {folder}/u.data"
        )
    for name in ("u.item", "u.user"):
        if not os.path.exists(os.path.join(ml, name)):
            raise MissingFileError(f"{os.path.join(ml, name)} is missing")

    def optional(path):
        return path if os.path.exists(path) else None

    return {
        "u.data": os.path.join(ml, "u.data"),
        "u.item": os.path.join(ml, "u.item"),
        "u.user": os.path.join(ml, "u.user"),
        "u.genre": optional(os.path.join(ml, "u.genre")),
        "tmdb_items.csv": optional(os.path.join(folder, "tmdb_items.csv")),
        "posters": optional(os.path.join(folder, "posters")),
    }


def load_movielens_100k(folder, skip_bad_rows: bool = False) -> tuple[RecDataset, ValidationReport]:
    """Loads and validates MovieLens 100K from ``folder``.

    Interactions come from ``u.data`` (ids as strings, rating 1-5 as float32,
    Unix seconds); exact duplicate (user, item, time) rows are dropped and
    counted. Ratings of items or users absent from ``u.item``/``u.user`` are
    bad rows. Items: title, ``genres`` (``|``-joined genre names), ``year``
    (release year or ""), ``text`` (first non-empty TMDB overview) and
    ``image_path`` (absolute poster path or ""). Users: gender, occupation,
    ``zip_prefix`` (first zip digit or "") and age.

    Raises:
      BadRowError: a bad row when ``skip_bad_rows`` is False.
      FileNotFoundError: the folder holds no MovieLens files.
    """
    files = find_movielens_files(folder)
    report = ValidationReport()
    items = _load_items(files, skip_bad_rows, report)
    users = _load_users(files["u.user"], skip_bad_rows, report)
    interactions = _load_ratings(files["u.data"], items.item_id, users.user_id,
                                 skip_bad_rows, report)
    _add_overviews(items, files["tmdb_items.csv"], skip_bad_rows, report)
    _add_posters(items, files["posters"], report)
    report.rows_kept += len(interactions) + len(items) + len(users)
    dataset = RecDataset(
        name=NAME,
        interactions=interactions,
        items=items,
        users=users,
        item_categorical=ITEM_CATEGORICAL,
        user_categorical=USER_CATEGORICAL,
        user_numeric=USER_NUMERIC,
    )
    return dataset, report


def _load_ratings(path, item_ids, user_ids, skip_bad_rows, report) -> pd.DataFrame:
    table = read_delimited(path, ("user_id", "item_id", "rating", "timestamp"), delimiter="\t",
                           skip_bad_rows=skip_bad_rows, report=report)
    check = RowChecker(table, report, skip_bad_rows)
    user = check.parse_id("user_id")
    item = check.parse_id("item_id")
    rating = check.parse_float("rating", min_value=1, max_value=5)
    timestamp = check.parse_timestamp("timestamp", min_value=MIN_TIMESTAMP, max_value=MAX_TIMESTAMP)
    check.reject(~pd.Series(user).isin(set(user_ids)).to_numpy(), "user_id",
                 "is not a user in u.user", key="unknown user")
    check.reject(~pd.Series(item).isin(set(item_ids)).to_numpy(), "item_id",
                 "is not an item in u.item", key="unknown item")
    return interactions_frame(table, check.keep, user, item, timestamp, rating, report)


def _genre_names(path) -> tuple[str, ...]:
    """Genre names ordered by their flag index, from ``u.genre`` or the standard list."""
    if path is None:
        return STANDARD_GENRES
    table = read_delimited(path, ("name", "index"), delimiter="|", encoding="latin-1")
    check = RowChecker(table, ValidationReport(), skip_bad_rows=False)
    index = check.parse_int("index", min_value=0)
    names = check.parse_str("name", required=True)
    if sorted(index.tolist()) != list(range(len(index))):
        raise BadRowError(path, 1, "index", None,
                          f"genre indexes must be 0..{len(index) - 1}, got {sorted(index.tolist())}")
    return tuple(str(n) for _, n in sorted(zip(index.tolist(), names)))


def _load_items(files, skip_bad_rows, report) -> pd.DataFrame:
    genres = _genre_names(files["u.genre"])
    flag_columns = [f"genre_{i}" for i in range(len(genres))]
    columns = ("item_id", "title", "release_date", "video_release_date", "url", *flag_columns)
    table = read_delimited(files["u.item"], columns, delimiter="|", encoding="latin-1",
                           skip_bad_rows=skip_bad_rows, report=report)
    check = RowChecker(table, report, skip_bad_rows)
    item_id = check.parse_id("item_id")
    title = check.parse_str("title")
    flags = np.stack([check.parse_int(c, min_value=0, max_value=1) for c in flag_columns], axis=1) \
        if len(table) else np.zeros((0, len(genres)), dtype=np.int64)
    release = pd.Series(check.parse_str("release_date"), dtype=object)
    year = release.str.extract(r"(\d{4})\s*$", expand=False).fillna("")
    keep = check.keep
    genre_names = np.asarray(genres, dtype=object)
    joined = [MULTI_VALUE_SEPARATOR.join(genre_names[row.astype(bool)]) for row in flags[keep]]
    frame = pd.DataFrame({
        "item_id": item_id[keep],
        "title": title[keep],
        "text": "",
        "image_path": "",
        "genres": joined,
        "year": year.to_numpy(dtype=object)[keep],
    })
    return drop_duplicate_ids(frame, "item_id", report, os.path.basename(files["u.item"]))


def _load_users(path, skip_bad_rows, report) -> pd.DataFrame:
    table = read_delimited(path, ("user_id", "age", "gender", "occupation", "zip"),
                           delimiter="|", encoding="latin-1",
                           skip_bad_rows=skip_bad_rows, report=report)
    check = RowChecker(table, report, skip_bad_rows)
    user_id = check.parse_id("user_id")
    age = check.parse_float("age", min_value=0, max_value=150)
    gender = check.parse_str("gender")
    occupation = check.parse_str("occupation")
    zip_code = pd.Series(check.parse_str("zip"), dtype=object)
    first = zip_code.str[:1].fillna("")
    zip_prefix = first.where(first.str.isdigit(), "")
    keep = check.keep
    frame = pd.DataFrame({
        "user_id": user_id[keep],
        "gender": gender[keep],
        "occupation": occupation[keep],
        "zip_prefix": zip_prefix.to_numpy(dtype=object)[keep],
        "age": age[keep].astype(np.float32),
    })
    return drop_duplicate_ids(frame, "user_id", report, os.path.basename(path))


def _add_overviews(items: pd.DataFrame, path, skip_bad_rows, report) -> None:
    """Sets ``items.text`` to the first non-empty overview of each movie in ``path``.

    The file repeats some movie ids (an upstream join problem); the extra rows
    are counted in ``report.duplicate_rows`` and described in a note.
    """
    if path is not None:
        table = read_delimited(path, ("movie_id", "overview"), delimiter=",", header=True,
                               quoted=True, skip_bad_rows=skip_bad_rows, report=report)
        check = RowChecker(table, report, skip_bad_rows)
        movie_id = check.parse_id("movie_id")
        overview = check.parse_str("overview")
        keep = check.keep
        frame = pd.DataFrame({"movie_id": movie_id[keep], "overview": overview[keep]})
        _note_overview_quality(frame, os.path.basename(path), report)
        # Non-empty overviews first (stable), so the first row per id is the first usable one.
        order = np.argsort(frame.overview.to_numpy(dtype=object) == "", kind="stable")
        first = frame.iloc[order].drop_duplicates("movie_id", keep="first")
        extra = len(frame) - len(first)
        report.duplicate_rows += extra
        unknown = ~first.movie_id.isin(set(items.item_id))
        if unknown.any():
            report.notes.append(f"{os.path.basename(path)}: {int(unknown.sum())} movie id(s) are "
                                f"not in u.item and were ignored, e.g. "
                                f"{list(first.movie_id[unknown][:3])}")
            report.rows_skipped["unknown movie"] = (report.rows_skipped.get("unknown movie", 0)
                                                    + int(unknown.sum()))
        report.rows_kept += int((~unknown).sum())
        text = items.item_id.map(dict(zip(first.movie_id, first.overview)))
        items["text"] = text.fillna("").to_numpy(dtype=object)
    report.items_missing_text += int((items.text == "").sum())


def _note_overview_quality(frame: pd.DataFrame, name: str, report: ValidationReport) -> None:
    repeated = frame.movie_id[frame.movie_id.duplicated(keep=False)]
    if len(repeated):
        ids = repeated.unique()
        report.notes.append(
            f"{name}: {len(ids)} movie ids appear in more than one row "
            f"({len(repeated) - len(ids)} extra rows); kept the first non-empty overview of each"
        )
    texts = frame[frame.overview != ""].drop_duplicates("movie_id")
    shared = texts.groupby("overview").movie_id.nunique()
    shared = shared[shared > 1]
    if len(shared):
        report.notes.append(
            f"{name}: {len(shared)} overviews are shared by different movies "
            f"({int(shared.sum())} movies); kept as given"
        )


def _add_posters(items: pd.DataFrame, folder, report) -> None:
    """Sets ``items.image_path`` to ``<folder>/<id>.jpg`` where that file exists and may be an image.

    Zero-byte files and files of another format count as no poster (noted in the report).
    """
    if folder is not None:
        present = set(os.listdir(folder))
        names = items.item_id.to_numpy(dtype=object) + ".jpg"
        has = np.fromiter((n in present for n in names), dtype=bool, count=len(names))
        paths = np.where(has, [os.path.join(folder, n) for n in names], "")
        items["image_path"] = drop_unusable_images(paths.astype(object), "posters", report)
    report.items_missing_image += int((items.image_path == "").sum())
