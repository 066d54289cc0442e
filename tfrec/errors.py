"""Errors caused by the user's input rather than by a bug.

The CLI prints these as one line and exits with status 2; anything else is a
bug and keeps its traceback.
"""

from tfrec.config import ConfigError
from tfrec.data.download import ChecksumError, DownloadError
from tfrec.data.schema import SchemaError
from tfrec.data.validation import BadRowError
from tfrec.encoders.efficientnet_lite import Lite0WeightsError
from tfrec.encoders.torch_legacy_reader import TorchFileError
from tfrec.serving.errors import ServerSettingsError

USER_ERRORS = (ConfigError, SchemaError, BadRowError, ChecksumError, DownloadError, ServerSettingsError,
               Lite0WeightsError, TorchFileError, FileNotFoundError, FileExistsError, NotADirectoryError)
