"""The TF Serving configuration files of a model base path.

``tensorflow_model_server`` serves several models from one process when it is
given ``--model_config_file``: a text-format ``ModelServerConfig`` whose
``model_config_list`` names each model, its absolute ``base_path`` and its
platform. Request batching (``--enable_batching``) reads its limits from
``--batching_parameters_file``: a text-format ``BatchingParameters``.

Each exported version also carries its own ``batching_params.pbtxt``, which TF
Serving reads instead with ``--enable_per_model_batching_parameters``.

This module keeps both files next to the models, ``<base>/models.config`` and
``<base>/batching_parameters.txt``, from the real protocol buffers, so what is
written is exactly what the server parses. Every export merges its model into
an existing models.config (the user's labels, version policies and other
models stay) and writes batching_parameters.txt only when there is none. ``ModelServerConfig`` ships with
tensorflow-serving-api; ``BatchingParameters`` (from TF Serving's
``session_bundle_config.proto``) does not, so it is rebuilt here field for
field, names, numbers and wrapper types unchanged, in a private descriptor pool.

Both files are written atomically, under a lock on the base path. Run
``python -m tfrec.export.serving_config saved_models [--serving-base /models]``
to add every model of a base path (with ``--serving-base``, pointing their
entries there).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfrec.atomic import atomic_file
from tfrec.errors import ConfigError, MissingFileError, UserError
from tfrec.export.versions import existing_versions
from tfrec.locks import file_lock

MODELS_CONFIG = "models.config"
BATCHING_PARAMETERS = "batching_parameters.txt"
# Read from the version folder by TF Serving started with --enable_batching
# --enable_per_model_batching_parameters, instead of --batching_parameters_file.
MODEL_BATCHING_PARAMS = "batching_params.pbtxt"
SERVING_FILES_LOCK = ".serving_files.lock"  # held while models.config is merged (a dot-file: no model folder)


def model_names(base: str) -> list[str]:
    """Model folders of ``base`` that hold at least one integer version, sorted."""
    if not os.path.isdir(base):
        raise MissingFileError(f"model base path {os.path.abspath(base)} does not exist")
    return sorted(name for name in os.listdir(base)
                  if not name.startswith(".") and existing_versions(os.path.join(base, name)))


def merged_models_config(base: str, existing=None, serving_base: str | None = None,
                         models: list[str] | None = None) -> model_server_config_pb2.ModelServerConfig:
    """``existing`` (a ``ModelServerConfig``, or None) with an entry for each of ``models`` under ``base``.

    ``models`` defaults to every model folder under ``base``. A model already
    listed keeps its entry (labels, version policy, every other field); only
    its ``base_path`` follows ``serving_base`` when that is given, the folder
    as the server sees it, e.g. ``/models`` in the ``tensorflow/serving``
    container. A new model gets ``<serving_base or absolute base>/<name>`` and
    platform ``tensorflow``. Other models are left as they are.
    """
    root = serving_base if serving_base is not None else os.path.abspath(base)
    if not root.startswith("/"):
        raise ConfigError(f"--serving-base must be an absolute path (the folder as the server sees it), got {root!r}")
    names = model_names(base) if models is None else list(models)
    if not names:
        raise MissingFileError(f"no exported models (folders with integer versions) under {os.path.abspath(base)}")
    config = model_server_config_pb2.ModelServerConfig()
    if existing is not None:
        config.CopyFrom(existing)
    listed = {entry.name: entry for entry in config.model_config_list.config}
    for name in names:
        entry = listed.get(name)
        if entry is None:
            entry = config.model_config_list.config.add(name=name, model_platform="tensorflow")
        elif serving_base is None and entry.base_path:
            continue
        entry.base_path = root.rstrip("/") + "/" + name
    return config


def _write_text(path: str, text: str) -> str:
    """Atomic write, readable by a server running as another user (e.g. in a container)."""
    with atomic_file(path) as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def read_models_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    """Parses a text-format ``ModelServerConfig``; a syntax error names the file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as e:
        raise ConfigError(f"{path}: not a text-format ModelServerConfig: {e}") from e


def _batching_parameters_class():
    """``tensorflow.serving.BatchingParameters``: TF Serving's own module if installed, else a rebuild."""
    try:  # Shipped by some TF Serving builds; identical by construction when present.
        from tensorflow_serving.servables.tensorflow import session_bundle_config_pb2
        return session_bundle_config_pb2.BatchingParameters
    except ImportError:
        pass
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="tfrec/session_bundle_config_batching.proto", package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])
    message = file.message_type.add(name="BatchingParameters")
    field_proto = descriptor_pb2.FieldDescriptorProto
    fields = [  # (name, number, wrapper type or scalar type, repeated) as in session_bundle_config.proto
        ("max_batch_size", 1, ".google.protobuf.Int64Value", False),
        ("batch_timeout_micros", 2, ".google.protobuf.Int64Value", False),
        ("max_enqueued_batches", 3, ".google.protobuf.Int64Value", False),
        ("num_batch_threads", 4, ".google.protobuf.Int64Value", False),
        ("thread_pool_name", 5, ".google.protobuf.StringValue", False),
        ("allowed_batch_sizes", 6, field_proto.TYPE_INT64, True),
        ("pad_variable_length_inputs", 7, field_proto.TYPE_BOOL, False),
    ]
    for name, number, kind, repeated in fields:
        field = message.field.add(name=name, number=number,
                                  label=field_proto.LABEL_REPEATED if repeated else field_proto.LABEL_OPTIONAL)
        if isinstance(kind, str):
            field.type, field.type_name = field_proto.TYPE_MESSAGE, kind
        else:
            field.type = kind
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


BatchingParametersProto = _batching_parameters_class()


@dataclasses.dataclass
class BatchingSettings:
    """Server-side request batching limits (TF Serving's ``BatchingParameters``).

    TF Serving's advice: about ``2 * max_batch_size`` concurrent client
    requests for full batches; ``num_batch_threads`` about the number of cores.
    Batching concatenates requests along dimension 0, so every input of a
    batched signature needs a batch dimension.
    """

    max_batch_size: int = 1024  # a two-stage ranking request alone carries 100 rows
    batch_timeout_micros: int = 2000
    num_batch_threads: int = 4
    max_enqueued_batches: int = 100
    pad_variable_length_inputs: bool = False

    def __post_init__(self):
        for name in ("max_batch_size", "num_batch_threads", "max_enqueued_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"batching {name} must be at least 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batching batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")

    def to_proto(self):
        proto = BatchingParametersProto()
        proto.max_batch_size.value = self.max_batch_size
        proto.batch_timeout_micros.value = self.batch_timeout_micros
        proto.num_batch_threads.value = self.num_batch_threads
        proto.max_enqueued_batches.value = self.max_enqueued_batches
        proto.pad_variable_length_inputs = self.pad_variable_length_inputs
        return proto


def write_batching_parameters(base: str, settings: BatchingSettings | None = None) -> str:
    """Writes ``<base>/batching_parameters.txt`` atomically and returns its path."""
    text = text_format.MessageToString((settings or BatchingSettings()).to_proto())
    return _write_text(os.path.join(base, BATCHING_PARAMETERS), text)


def write_model_batching_params(version_folder: str, settings: BatchingSettings) -> str:
    """Writes a model version's own ``<version>/batching_params.pbtxt`` atomically; returns its path."""
    text = text_format.MessageToString(settings.to_proto())
    return _write_text(os.path.join(version_folder, MODEL_BATCHING_PARAMS), text)


def read_batching_parameters(path: str):
    """Parses a text-format ``BatchingParameters`` file into the proto message."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return text_format.Parse(text, BatchingParametersProto())
    except text_format.ParseError as e:
        raise ConfigError(f"{path}: not a text-format BatchingParameters: {e}") from e


def write_serving_files(base: str, serving_base: str | None = None, batching: BatchingSettings | None = None,
                        models: list[str] | None = None) -> tuple[str, str]:
    """Merges ``models`` (default: every model under ``base``) into ``<base>/models.config``; writes
    ``<base>/batching_parameters.txt`` only if there is none. Returns both paths.

    The user's models.config is kept, entry by entry (see :func:`merged_models_config`); an
    unparseable one is a ConfigError naming it, and is left untouched. Both files are replaced
    atomically, under a lock on the base path, so exports running at once lose nothing of each other.
    """
    base_dir = os.path.abspath(base)
    if not os.path.isdir(base_dir):
        raise MissingFileError(f"model base path {base_dir} does not exist")
    config_path, batching_path = os.path.join(base, MODELS_CONFIG), os.path.join(base, BATCHING_PARAMETERS)
    with file_lock(os.path.join(base_dir, SERVING_FILES_LOCK), f"the TF Serving files of {base_dir}",
                   wait_seconds=120):
        existing = read_models_config(config_path) if os.path.exists(config_path) else None
        if existing is not None and existing.WhichOneof("config") not in (None, "model_config_list"):
            raise ConfigError(f"{config_path}: holds a {existing.WhichOneof('config')}, not a model_config_list; "
                              "left as it is")
        config = merged_models_config(base, existing, serving_base, models)
        _write_text(config_path, text_format.MessageToString(config))
        if not os.path.exists(batching_path):
            write_batching_parameters(base, batching)
    return config_path, batching_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Add every model of a base path to its models.config (and write batching_parameters.txt if missing).")
    parser.add_argument("base", help="TF Serving model base path, e.g. saved_models")
    parser.add_argument("--serving-base", help="the base path as the server sees it, e.g. /models in docker")
    args = parser.parse_args(argv)
    try:
        paths = write_serving_files(args.base, args.serving_base)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
