"""The TF Serving configuration files of a model base path.

``tensorflow_model_server`` serves several models from one process when it is
given ``--model_config_file``: a text-format ``ModelServerConfig`` whose
``model_config_list`` names each model, its absolute ``base_path`` and its
platform. Request batching (``--enable_batching``) reads its limits from
``--batching_parameters_file``: a text-format ``BatchingParameters``.

Each exported version also carries its own ``batching_params.pbtxt``, which TF
Serving reads instead with ``--enable_per_model_batching_parameters``.

This module writes both files next to the models, ``<base>/models.config`` and
``<base>/batching_parameters.txt``, from the real protocol buffers, so what is
written is exactly what the server parses. ``ModelServerConfig`` ships with
tensorflow-serving-api; ``BatchingParameters`` (from TF Serving's
``session_bundle_config.proto``) does not, so it is rebuilt here field for
field, names, numbers and wrapper types unchanged, in a private descriptor pool.

Both files are written atomically. Run ``python -m tfrec.export.serving_config
saved_models [--serving-base /models]`` to (re)write them for a base path.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfrec.atomic import atomic_file
from tfrec.errors import ConfigError, MissingFileError
from tfrec.export.versions import existing_versions

MODELS_CONFIG = "models.config"
BATCHING_PARAMETERS = "batching_parameters.txt"
# Read from the version folder by TF Serving started with --enable_batching
# --enable_per_model_batching_parameters, instead of --batching_parameters_file.
MODEL_BATCHING_PARAMS = "batching_params.pbtxt"


def model_names(base: str) -> list[str]:
    """Model folders of ``base`` that hold at least one integer version, sorted."""
    if not os.path.isdir(base):
        raise MissingFileError(f"model base path {os.path.abspath(base)} does not exist")
    return sorted(name for name in os.listdir(base)
                  if not name.startswith(".") and existing_versions(os.path.join(base, name)))


def models_config(base: str, serving_base: str | None = None,
                  version_labels: dict[str, dict[str, int]] | None = None
                  ) -> model_server_config_pb2.ModelServerConfig:
    """A ``ModelServerConfig`` with one ``tensorflow`` entry per model folder under ``base``.

    ``serving_base`` replaces the absolute ``base`` in every ``base_path``: the
    folder as the server sees it, e.g. ``/models`` inside the ``tensorflow/serving``
    container. ``version_labels`` maps a model to ``{label: version}``.
    """
    root = serving_base if serving_base is not None else os.path.abspath(base)
    if not root.startswith("/"):
        raise ConfigError(f"--serving-base must be an absolute path (the folder as the server sees it), got {root!r}")
    names = model_names(base)
    if not names:
        raise MissingFileError(f"no exported models (folders with integer versions) under {os.path.abspath(base)}")
    unknown = set(version_labels or {}) - set(names)
    if unknown:
        raise ConfigError(f"version labels given for models not under {base}: {sorted(unknown)}")
    config = model_server_config_pb2.ModelServerConfig()
    for name in names:
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = root.rstrip("/") + "/" + name
        entry.model_platform = "tensorflow"
        for label, version in (version_labels or {}).get(name, {}).items():
            entry.version_labels[label] = int(version)
    return config


def _write_text(path: str, text: str) -> str:
    """Atomic write, readable by a server running as another user (e.g. in a container)."""
    with atomic_file(path) as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def write_models_config(base: str, serving_base: str | None = None,
                        version_labels: dict[str, dict[str, int]] | None = None) -> str:
    """Writes ``<base>/models.config`` atomically and returns its path."""
    text = text_format.MessageToString(models_config(base, serving_base, version_labels))
    return _write_text(os.path.join(base, MODELS_CONFIG), text)


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


def write_serving_files(base: str, serving_base: str | None = None,
                        batching: BatchingSettings | None = None) -> tuple[str, str]:
    """Writes ``models.config`` and ``batching_parameters.txt`` for every model under ``base``."""
    return write_models_config(base, serving_base), write_batching_parameters(base, batching)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write models.config and batching_parameters.txt for a base path.")
    parser.add_argument("base", help="TF Serving model base path, e.g. saved_models")
    parser.add_argument("--serving-base", help="the base path as the server sees it, e.g. /models in docker")
    args = parser.parse_args(argv)
    for path in write_serving_files(args.base, args.serving_base):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
