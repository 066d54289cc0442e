"""A run folder: everything one trained model is, in one place that loads without the raw data.

Like a keras-hub preset, a run folder holds what rebuilds its model: the
config it read, the vocabularies, the data as trained on (``data/``, see
:mod:`tfrec.data.trained_data`), the weights, the encoder modules, and its
logs. :class:`RunFolder` is the one place that spells a path inside a run.

Layout::

    run.json            kind (retrieval or ranking), status (training or finished), times, the split's fingerprint
    config.yaml         the keys the run reads, as it read them
    vocabularies.json   the id and category vocabularies of the towers
    data/               the data as trained on
    model/weights*      the best epoch's weights
    encoders/           the text and image encoders as TF-Hub modules
    checkpoints/ backup/ epoch_logs.json tensorboard/ train_summary.json
    evaluation.json ranking_stats.json ranking_evaluation.json report/
    added_items/        items added by tfrec index add, with their content as embedded then
    earlier_retrieval/  (ranking runs) the retrieval run of candidates.earlier_items
    .lock               who is writing the run

A writer holds the run's lock for as long as it writes (``training``,
``updating``); readers hold it shared (``reading``), so a run is never read
half-rewritten and two writers never mix their files. Training into a
finished run is refused unless asked to start over, and an interrupted run is
resumed only with the config it was started with.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil

from tfrec.atomic import atomic_file
from tfrec.errors import RunError
from tfrec.locks import current_command, file_lock

RETRIEVAL, RANKING = "retrieval", "ranking"
TRAINING, FINISHED = "training", "finished"
# Settings that do not change what a run computes, so a run may resume with them changed.
RESUMABLE_DIFFERENCES = ("train.verbose",)


class RunFolder:
    """The files of one run (see the module docstring for the layout)."""

    def __init__(self, path):
        if isinstance(path, RunFolder):
            path = path.path
        self.name = os.fspath(path)
        self.path = os.path.abspath(self.name)

    def __repr__(self) -> str:
        return f"RunFolder({self.name!r})"

    def __fspath__(self) -> str:
        return self.path

    def _file(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    # -- the files ----------------------------------------------------------------------------------------------
    manifest_file = property(lambda self: self._file("run.json"))
    config_file = property(lambda self: self._file("config.yaml"))
    vocabularies_file = property(lambda self: self._file("vocabularies.json"))
    data_dir = property(lambda self: self._file("data"))
    weights_prefix = property(lambda self: self._file("model", "weights"))
    encoders_dir = property(lambda self: self._file("encoders"))
    checkpoints_dir = property(lambda self: self._file("checkpoints"))
    backup_dir = property(lambda self: self._file("backup"))
    epoch_log_file = property(lambda self: self._file("epoch_logs.json"))
    tensorboard_dir = property(lambda self: self._file("tensorboard"))
    train_summary_file = property(lambda self: self._file("train_summary.json"))
    evaluation_file = property(lambda self: self._file("evaluation.json"))
    ranking_stats_file = property(lambda self: self._file("ranking_stats.json"))
    ranking_evaluation_file = property(lambda self: self._file("ranking_evaluation.json"))
    added_items_dir = property(lambda self: self._file("added_items"))
    report_dir = property(lambda self: self._file("report"))
    lock_file = property(lambda self: self._file(".lock"))

    @property
    def earlier_retrieval(self) -> "RunFolder":
        """The retrieval run a ranker of ``candidates.earlier_items`` trains inside its own folder."""
        return RunFolder(self._file("earlier_retrieval"))

    def encoder_module(self, modality: str) -> str:
        return self._file("encoders", modality)

    # -- what the folder holds ----------------------------------------------------------------------------------
    def manifest(self) -> dict | None:
        """``run.json`` (None for a folder that holds no run)."""
        try:
            with open(self.manifest_file) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise RunError(f"{self.name}: run.json cannot be read ({e})") from None

    @property
    def kind(self) -> str | None:
        manifest = self.manifest()
        return manifest.get("kind") if manifest else None

    @property
    def finished(self) -> bool:
        manifest = self.manifest()
        return bool(manifest) and manifest.get("status") == FINISHED

    def require_finished(self, kind: str | None = None) -> dict:
        """The manifest of a finished run (of ``kind``), or a ``RunError`` saying what the folder is."""
        if not os.path.isdir(self.path):
            raise RunError(f"{self.name} does not exist (train it first: tfrec train --run {self.name})")
        manifest = self.manifest()
        if manifest is None:
            if os.path.exists(self.config_file):
                raise RunError(f"{self.name} was trained by an older tfrec (it has no run.json and does not hold "
                               "its data); train it again")
            raise RunError(f"{self.name} is not a trained run (no run.json)")
        if manifest.get("status") != FINISHED:
            raise RunError(f"{self.name} has not finished training (interrupted or still running); rerun "
                           "the same tfrec train command to resume it")
        if kind and manifest.get("kind") != kind:
            raise RunError(f"{self.name} is a {manifest.get('kind')} run, not a {kind} run")
        return manifest

    def load_config(self):
        """The config the run was trained with (a ``RetrievalConfig`` or ``RankingConfig`` by its kind)."""
        from tfrec.config import RankingConfig, RetrievalConfig, load_config

        cls = RankingConfig if self.kind == RANKING else RetrievalConfig
        return load_config(self.config_file, cls)

    def read_json(self, path: str) -> dict | None:
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def write_json(self, path: str, value) -> None:
        with atomic_file(path) as f:
            json.dump(value, f, indent=2)

    # -- who writes ---------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def reading(self, kind: str | None = None):
        """Holds the run shared for the block (no writer meanwhile); the run must be finished."""
        self.require_finished(kind)
        with file_lock(self.lock_file, f"run {self.name}", shared=True):
            self.require_finished(kind)  # it may have been retrained while this command waited for the lock
            yield self

    @contextlib.contextmanager
    def updating(self, kind: str | None = None, log=print):
        """Holds a finished run exclusively for the block (e.g. to add items to it)."""
        self.require_finished(kind)
        with file_lock(self.lock_file, f"run {self.name}", log=log):
            self.require_finished(kind)
            yield self

    @contextlib.contextmanager
    def training(self, kind: str, overwrite: bool = False, log=print):
        """Claims the folder to train a run of ``kind`` into; yields a :class:`TrainingClaim`.

        Refused at once when another command holds the run, when the folder
        holds other files than a run, or when it holds a finished run and
        ``overwrite`` is not set. With ``overwrite``, the old run's files are
        removed. A folder this claim created is removed again if training
        fails before it wrote anything.
        """
        created = not os.path.exists(self.path)
        try:
            os.makedirs(self.path, exist_ok=True)
        except FileExistsError:
            raise RunError(f"{self.name} exists and is not a folder") from None
        claim = TrainingClaim(self, kind, log)
        claim.refuse_foreign()  # before the lock file is made: nothing is written into someone else's folder
        try:
            with file_lock(self.lock_file, f"run {self.name}", log=log):
                claim.inspect(overwrite)
                yield claim
        except BaseException:
            if created and not claim.began:
                shutil.rmtree(self.path, ignore_errors=True)
            raise

    def clear(self) -> None:
        """Removes everything of the run in the folder (not its lock)."""
        for name in os.listdir(self.path):
            if name == ".lock":
                continue
            full = os.path.join(self.path, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.remove(full)


class TrainingClaim:
    """A run folder claimed for training: whether it resumes, and the steps that write it."""

    def __init__(self, run: RunFolder, kind: str, log=print):
        self.run, self.kind, self.log = run, kind, log
        self.began = False
        self.resuming = False
        self.saved_config = None

    def refuse_foreign(self) -> None:
        """Refuses a folder that holds other files than a run."""
        run = self.run
        names = [n for n in os.listdir(run.path) if n != ".lock"]
        if names and not os.path.exists(run.manifest_file) and not os.path.exists(run.config_file):
            raise RunError(f"{run.name} is not empty and does not hold a tfrec run ({len(names)} entries, e.g. "
                           f"{sorted(names)[0]!r}); give a new or empty folder as --run")

    def inspect(self, overwrite: bool) -> None:
        run = self.run
        self.refuse_foreign()
        names = [n for n in os.listdir(run.path) if n != ".lock"]
        if not names:
            return
        manifest = run.manifest()
        if manifest is None or manifest.get("kind") != self.kind or manifest.get("status") == FINISHED:
            what = ("a run of an older tfrec" if manifest is None else
                    f"a {manifest.get('kind')} run" if manifest.get("kind") != self.kind else
                    f"a finished run (trained {manifest.get('finished', '?')})")
            if not overwrite:
                raise RunError(f"{run.name} holds {what}; train into a new --run folder, or pass --overwrite "
                               "to replace it")
            self.log(f"{run.name}: --overwrite: removing {what}")
            run.clear()
            return
        if overwrite:
            self.log(f"{run.name}: --overwrite: removing the interrupted run")
            run.clear()
            return
        self.resuming = True
        self.saved_config = run.load_config() if os.path.exists(run.config_file) else None

    def check_config(self, config) -> None:
        """Refuses to resume an interrupted run with another config (before anything is written)."""
        if not self.resuming or self.saved_config is None:
            return
        from tfrec.config import to_dict

        differences = _differences(to_dict(self.saved_config), to_dict(config))
        differences = [d for d in differences if d[0] not in RESUMABLE_DIFFERENCES]
        if differences:
            shown = "; ".join(f"{key}: {old!r} then, {new!r} now" for key, old, new in differences[:4])
            more = f" (and {len(differences) - 4} more)" if len(differences) > 4 else ""
            raise RunError(f"{self.run.name} was interrupted while training with another config ({shown}{more}); "
                           "rerun with the config it was started with to resume it, or pass --overwrite to "
                           "start it again")

    def begin(self, config, fingerprint: str) -> None:
        """Writes the manifest (status ``training``) and the config: the run's first files.

        A resumed run must have the config and the data it was started with.
        """
        from tfrec.config import save_config

        self.check_config(config)
        manifest = {"kind": self.kind, "status": TRAINING, "command": current_command(),
                    "started": _now(), "split_fingerprint": fingerprint}
        previous = self.run.manifest() if self.resuming else None
        if previous:
            if previous.get("split_fingerprint") not in (None, fingerprint):
                raise RunError(f"{self.run.name} was interrupted while training on other data (its split has "
                               "changed since: the raw files were edited or replaced); pass --overwrite to "
                               "start it again on the data as it is now")
            manifest = {**previous, "command": manifest["command"], "resumed": previous.get("resumed", []) + [_now()]}
        self.run.write_json(self.run.manifest_file, manifest)
        save_config(config, self.run.config_file)
        self.began = True

    def fitted(self) -> dict | None:
        """What a fit of this run that finished recorded (a rerun after a later kill skips the fit)."""
        manifest = self.run.manifest() if self.began else None
        return manifest.get("fit") if manifest else None

    def mark_fitted(self, result: dict) -> None:
        manifest = self.run.manifest() or {}
        manifest["fit"] = result
        self.run.write_json(self.run.manifest_file, manifest)

    def finish(self, summary: dict) -> None:
        """Writes the summary and marks the run finished: from now on it is an artifact other commands load."""
        self.run.write_json(self.run.train_summary_file, summary)
        manifest = self.run.manifest() or {}
        manifest.update(status=FINISHED, finished=_now())
        self.run.write_json(self.run.manifest_file, manifest)


def _differences(old: dict, new: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        dotted = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, dotted + ".")
        elif a != b:
            out.append((dotted, a, b))
    return out


def _now() -> str:
    return datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
