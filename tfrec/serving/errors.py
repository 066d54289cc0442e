"""A failed serving call: a gRPC status code and a message for the user.

The development server raises it to answer a request with that status; the
client raises it when the server answered with an error, so callers handle
one type whichever side failed.
"""

from __future__ import annotations

import re

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


def model_error_message(message: str) -> str:
    """What a model's failed check said, without the graph dump TensorFlow appends.

    ``assertion failed: [user_id and item_id must have the same length] [Condition x == y ...]
    [[{{node assert_equal_1/Assert/Assert}}]] [Op:__inference_...]`` becomes
    ``user_id and item_id must have the same length``; other errors keep their first line.
    """
    message = message or ""
    if "assertion failed:" in message:
        first = re.search(r"assertion failed: \[([^\]]+)\]", message)
        if first:
            return first.group(1)
    line = message.strip().splitlines()[0] if message.strip() else "the model failed"
    return re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", line)
