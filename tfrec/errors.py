"""Errors caused by the user's input rather than by a bug.

The CLI prints these as one line and exits with status 2; anything else is a
bug and keeps its traceback.
"""

from tfrec.config import ConfigError
from tfrec.data.download import ChecksumError, DownloadError
from tfrec.data.schema import SchemaError
from tfrec.data.validation import BadRowError
from tfrec.serving.errors import ServerSettingsError

USER_ERRORS = (ConfigError, SchemaError, BadRowError, ChecksumError, DownloadError, ServerSettingsError,
               FileNotFoundError, FileExistsError, NotADirectoryError)
