"""Which model versions are served, and how they are swapped while requests run.

Like TF Serving's file-system source, the registry watches each model's base
path for integer version folders (anything else, such as the hidden
temporary folders of an export in progress, is ignored), decides which
versions to serve from the model's version policy (default: the newest one),
loads a new version completely, warm-up included, and only then publishes
it. Publishing replaces one dictionary reference, so a request that already
took a servable keeps using it to the end while new requests see the new
version; the old one is dropped from the dictionary afterwards and freed when
its last request finishes.

Models come from a ``models.config`` (``model_config_list``: name,
``base_path``, ``model_version_policy``, ``version_labels``), read again
whenever its text changes, or, without one, from every folder under the base
path that holds a version; a ``HandleReloadConfigRequest`` replaces either
(:meth:`ServableRegistry.reload_config`). A new config is checked as TF
Serving's ``ServerCore::ReloadConfig`` checks it (one entry per name, absolute
base paths, platform ``tensorflow``, each label on a version served at that
moment unless ``allow_version_labels_for_unavailable_models``) before anything
changes: a refused one keeps the config in force, and at start-up stops the
server with one line.

Every model path must lie inside the model root: the base path when one is
given, else the folder holding the ``models.config``. Paths are resolved
(``..``, symbolic links) before the check, so a config naming ``/etc`` or
``base/../../home``, or a version folder linked to elsewhere, is refused
with an error naming the file instead of being loaded.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time

import grpc
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfrec.errors import ConfigError
from tfrec.export.serving_config import model_names, read_models_config
from tfrec.export.versions import existing_versions
from tfrec.serving.errors import ServerSettingsError, ServingError
from tfrec.serving.request_validation import RequestLimits
from tfrec.serving.servable import Servable, load_servable

log = logging.getLogger("tfrec.serving")

State = get_model_status_pb2.ModelVersionStatus.State
MAX_LOAD_ATTEMPTS = 3  # a version that fails this often is left unserved (and reported)


@dataclasses.dataclass
class VersionStatus:
    state: int
    error: str = ""
    attempts: int = 0
    files: tuple = ()  # what the version folder held at the last failed attempt


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def folder_fingerprint(path: str) -> tuple:
    """(relative path, size, mtime) of every file under ``path``: changes when the folder is filled in."""
    found = []
    for root, _, files in os.walk(path):
        for file in files:
            full = os.path.join(root, file)
            try:
                info = os.stat(full)
            except OSError:
                continue
            found.append((os.path.relpath(full, path), info.st_size, info.st_mtime_ns))
    return tuple(sorted(found))


def default_model_config(base: str) -> model_server_config_pb2.ModelServerConfig:
    """Every model folder under ``base``, newest version only: what a bare base path means."""
    config = model_server_config_pb2.ModelServerConfig()
    for name in model_names(base):
        entry = config.model_config_list.config.add(name=name, model_platform="tensorflow")
        entry.base_path = os.path.abspath(os.path.join(base, name))
    return config


def inside_root(path: str, root: str) -> bool:
    """Whether ``path``, with ``..`` and symbolic links resolved, is ``root`` or below it."""
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return os.path.commonpath([real, real_root]) == real_root


def wanted_versions(model_config, on_disk: list[int]) -> list[int]:
    """The versions of ``on_disk`` (ascending) that the model's version policy serves."""
    policy = model_config.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return list(on_disk)
    if choice == "specific":
        return [v for v in on_disk if v in set(policy.specific.versions)]
    count = policy.latest.num_versions if choice == "latest" and policy.latest.num_versions > 0 else 1
    return on_disk[-count:]


class ServableRegistry:
    """The served versions of every model, their load states, and the poller that updates them."""

    def __init__(self, base: str | None = None, model_config_file: str | None = None,
                 limits: RequestLimits = RequestLimits(), allow_version_labels_for_unavailable_models: bool = False):
        if base is None and model_config_file is None:
            raise ServerSettingsError("give a model base path or a models.config file")
        self.base, self.model_config_file, self.limits = base, model_config_file, limits
        # TF Serving's --allow_version_labels_for_unavailable_models: a new label may name a version not served yet.
        self.allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self.root = os.path.abspath(base if base is not None else os.path.dirname(os.path.abspath(model_config_file)))
        self._served: dict[str, dict[int, Servable]] = {}  # replaced, never mutated
        self._status: dict[str, dict[int, VersionStatus]] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._configs: list | None = None  # the ModelConfigs in force (None: none applied yet)
        self._config_text: str | None = None  # the models.config text they came from
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- which models -------------------------------------------------------------------------
    def _checked(self, config, source: str) -> list:
        """The ModelConfigs of ``config``, checked as TF Serving checks a new config; ServingError if refused.

        ``source`` names where the config came from (the file, or the reload request) in messages.
        """
        if config.WhichOneof("config") != "model_config_list":
            raise _invalid(f"{source}: only model_config_list is supported")
        entries, names = list(config.model_config_list.config), set()
        for entry in entries:
            if entry.name in names:
                raise _invalid(f"{source}: Illegal to list model {entry.name} multiple times in config list")
            names.add(entry.name)
            if not os.path.isabs(entry.base_path):
                raise _invalid(f"{source}: Expected model {entry.name} to have an absolute path or URI; "
                               f"got base_path()={entry.base_path}")
            if not entry.model_platform:
                raise _invalid(f"{source}: Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                               f"ModelServerConfig::model_platform, model name is {entry.name}")
            if entry.model_platform != "tensorflow":
                raise _invalid(f"{source}: Model {entry.name} requests unsupported platform {entry.model_platform}; "
                               f"only 'tensorflow' is served")
            if not inside_root(entry.base_path, self.root):
                raise _invalid(f"{source}: model {entry.name!r} has base_path {entry.base_path!r}, which resolves to "
                               f"{os.path.realpath(entry.base_path)}, outside the model root "
                               f"{os.path.realpath(self.root)}; refused")
        return entries

    def _checked_labels(self, entries: list) -> dict[str, dict[str, int]]:
        """TF Serving's label rule: a label names a version served now, unless the flag allows a new one."""
        labels = {}
        for entry in entries:
            for label, version in entry.version_labels.items():
                current = self._labels.get(entry.name, {}).get(label)
                allowed = self.allow_unavailable_labels and current in (None, version)
                if not allowed and version not in self._served.get(entry.name, {}):
                    raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                                       f"Request to assign label to version {version} of model {entry.name}, "
                                       f"which is not currently available for inference")
                labels.setdefault(entry.name, {})[label] = version
        return labels

    def reload_config(self, config, source: str = "the reload request") -> None:
        """Replaces the served models by those of ``config`` (``HandleReloadConfigRequest``).

        A refused config (ServingError: INVALID_ARGUMENT, or FAILED_PRECONDITION for a label) changes
        nothing. New models are loaded and dropped ones unloaded before this returns; a new model none
        of whose versions loaded is reported as TF Serving reports it (UNKNOWN), with the config kept.
        """
        with self._write_lock:
            entries = self._checked(config, source)
            labels = self._checked_labels(entries)
            before = {c.name for c in self._configs or []}
            self._configs, self._labels = entries, labels
            self._sync(entries)
        failed = [c.name for c in entries if c.name not in before and c.name not in self._served]
        if failed:
            raise ServingError(grpc.StatusCode.UNKNOWN, f"{len(failed)} model(s) did not become available: "
                               + ", ".join(f"{{{name}: {self._last_error(name)}}}" for name in failed))

    def _last_error(self, name: str) -> str:
        errors = [s.error for _, s in sorted(self._status.get(name, {}).items()) if s.error]
        return errors[-1] if errors else "no version found under its base_path"

    def _file_configs(self) -> list:
        """The models.config in force: re-read when its text changed; a refused change keeps the old one."""
        try:
            with open(self.model_config_file, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            if self._configs is None:
                raise ServerSettingsError(f"{self.model_config_file}: cannot be read: {e.strerror}") from None
            if self._config_text is not None:
                log.error("%s cannot be read (%s); keeping the models served", self.model_config_file, e.strerror)
            self._config_text = None  # said once; read again when it is back
            return self._configs
        if text == self._config_text and self._configs is not None:
            return self._configs  # unchanged (or replaced by a reload request since)
        try:
            entries = self._checked(read_models_config(self.model_config_file), self.model_config_file)
            labels = self._checked_labels(entries)
        except (ServingError, ConfigError) as e:
            message = e.message if isinstance(e, ServingError) else str(e)
            if not message.startswith(self.model_config_file):
                message = f"{self.model_config_file}: {message}"
            if self._configs is None:  # at start-up: the server does not start
                if getattr(e, "code", None) == grpc.StatusCode.FAILED_PRECONDITION:
                    message += (" (TF Serving refuses it too; to label versions before they are loaded, start "
                                "with --allow-version-labels-for-unavailable-models, TF Serving with "
                                "--allow_version_labels_for_unavailable_models)")
                raise ServerSettingsError(message) from None
            log.error("refusing the changed models.config, keeping the models served: %s", message)
            self._config_text = text  # said once, not at every poll
            return self._configs
        self._configs, self._labels, self._config_text = entries, labels, text
        return entries

    def _model_configs(self) -> list:
        if self.model_config_file is not None:
            return self._file_configs()
        if self._configs is not None:  # a reload request replaced the models of the bare base path
            return self._configs
        return list(default_model_config(self.base).model_config_list.config) if os.path.isdir(self.base) else []

    # -- loading and unloading ----------------------------------------------------------------
    def poll(self) -> None:
        """Loads wanted versions that are not served yet, then unloads the unwanted ones.

        Like TF Serving's availability-preserving policy, a model's old version
        stays served while none of its wanted versions could be loaded; the
        versions of a model whose folder disappeared (or holds no version any
        more) are unloaded.
        """
        with self._write_lock:
            self._sync(self._model_configs())

    def _sync(self, configs: list) -> None:
        """Loads the wanted versions of ``configs`` and unloads the rest; call with the write lock held."""
        wanted = {}
        for config in configs:
            on_disk = existing_versions(config.base_path)
            wanted[config.name] = set(wanted_versions(config, on_disk))
            for version in sorted(wanted[config.name]):
                if version not in self._served.get(config.name, {}):
                    path = os.path.join(config.base_path, str(version))
                    if not inside_root(path, self.root):
                        self._refuse(config.name, version, f"{path} resolves to {os.path.realpath(path)}, "
                                                           f"outside the model root {os.path.realpath(self.root)}")
                        continue
                    self._load(config.name, version, path)
        for name, versions in list(self._served.items()):
            keep = wanted.get(name, set())
            if keep and not keep & set(versions):
                continue  # availability first: keep the old version until a wanted one loaded
            for version in sorted(set(versions) - keep):
                self._unload(name, version)

    def _refuse(self, name: str, version: int, reason: str) -> None:
        status = self._status.setdefault(name, {}).setdefault(version, VersionStatus(State.START))
        if status.state != State.END or status.error != reason:
            log.error("refusing %s version %d: %s", name, version, reason)
        status.state, status.error = State.END, reason

    def _load(self, name: str, version: int, path: str) -> None:
        status = self._status.setdefault(name, {}).setdefault(version, VersionStatus(State.START))
        if status.state == State.END and status.attempts >= MAX_LOAD_ATTEMPTS:
            # Retried once its folder changes: a version folder may be created first and filled later.
            if folder_fingerprint(path) == status.files:
                return
            status.attempts = 0
        status.state, status.attempts = State.LOADING, status.attempts + 1
        started = time.perf_counter()
        try:
            servable = load_servable(name, version, path, self.limits)
        except Exception as e:  # noqa: BLE001 - a bad version must not stop the others
            status.state, status.error = State.END, f"{type(e).__name__}: {e}"
            status.files = folder_fingerprint(path)
            log.error("failed to load %s version %d (attempt %d): %s", name, version, status.attempts, e)
            return
        served = {**self._served, name: {**self._served.get(name, {}), version: servable}}
        self._served = served  # the atomic swap: readers see the old or the new dictionary
        status.state, status.error = State.AVAILABLE, ""
        log.info("serving %s version %d from %s (loaded in %.1fs)", name, version, path,
                 time.perf_counter() - started)

    def _unload(self, name: str, version: int) -> None:
        remaining = {v: s for v, s in self._served.get(name, {}).items() if v != version}
        served = {**self._served, name: remaining}
        if not remaining:
            del served[name]
        self._served = served
        self._status[name][version].state = State.END
        log.info("unloaded %s version %d", name, version)

    # -- lookups ------------------------------------------------------------------------------
    def resolve(self, model_spec) -> Servable:
        """The servable a ``ModelSpec`` asks for: a version, a label, or the newest; TF Serving's errors."""
        served = self._served  # one read: the same snapshot for the whole lookup
        name = model_spec.name
        if not name:
            raise _invalid("ModelSpec has no name specified.")
        choice = model_spec.WhichOneof("version_choice")
        if choice == "version_label":
            label = model_spec.version_label
            if label not in self._labels.get(name, {}):
                raise _invalid(f"Unrecognized servable version label: {label}")
            version = self._labels[name][label]
        elif choice == "version":
            version = model_spec.version.value
        else:
            version = None
        versions = served.get(name, {})
        if version is None and versions:
            return versions[max(versions)]
        if version in versions:
            return versions[version]
        request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        if versions:
            hint = f"version {version} is not served; served versions: {', '.join(map(str, sorted(versions)))}"
        else:
            hint = f"model '{name}' is not served here; served models: {', '.join(sorted(served)) or 'none'}"
        raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {request} ({hint})")

    def status(self, name: str, version: int | None = None) -> list[tuple[int, VersionStatus]]:
        """``(version, status)`` of every known version of ``name``, or of ``version`` only."""
        known = dict(self._status.get(name, {}))
        if not known:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        if version is not None:
            if version not in known:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}")
            return [(version, known[version])]
        return sorted(known.items())

    def served(self) -> dict[str, list[int]]:
        return {name: sorted(versions) for name, versions in self._served.items()}

    # -- the poller ---------------------------------------------------------------------------
    def start_polling(self, seconds: float) -> None:
        """Re-scans every ``seconds`` in a daemon thread until :meth:`stop_polling`."""
        if seconds <= 0 or self._thread is not None:
            return

        def loop():
            while not self._stop.wait(seconds):
                try:
                    self.poll()
                except Exception:  # noqa: BLE001 - keep serving what is loaded
                    log.exception("model poll failed; keeping the served versions")

        self._thread = threading.Thread(target=loop, name="tfrec-model-poller", daemon=True)
        self._thread.start()

    def stop_polling(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
