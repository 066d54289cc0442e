"""A failed serving call: a gRPC status code and a message for the user.

The development server raises it to answer a request with that status; the
client raises it when the server answered with an error, so callers handle
one type whichever side failed.
"""

from __future__ import annotations

import grpc

from tfrec.errors import UserError


class ServingError(UserError):
    """``code`` is a ``grpc.StatusCode``; ``message`` says what was wrong and where."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


class ServerSettingsError(UserError, ValueError):
    """A ``tfrec serve`` option is invalid (TLS files, limits): reported before anything starts."""
