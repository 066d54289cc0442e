"""Request bytes that do not parse as the method's message: answered as gRPC C++ (TF Serving) answers them.

gRPC C++ (``GenericDeserialize`` in ``proto_utils.h``) answers a request whose
bytes are not a valid protocol buffer with INTERNAL before the service sees
it. Python's gRPC does the same but logs a traceback for each one, so a
client sending garbage would fill the server's log. This interceptor gives
every method a parser that never raises and answers such a request INTERNAL
with one log line.
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf.message import DecodeError

log = logging.getLogger("tfrec.serving")


class _Undecodable:
    """Stands for a request whose bytes did not parse."""


_UNDECODABLE = _Undecodable()


def _tolerant(parse):
    def parse_or_mark(data: bytes):
        try:
            return parse(data)
        except (DecodeError, ValueError, TypeError):
            return _UNDECODABLE
    return parse_or_mark


def _refusing(behaviour, method: str):
    def answer(request, context):
        if request is _UNDECODABLE:
            log.warning("refused a %s request whose bytes do not parse (from %s)", method, context.peer())
            context.abort(grpc.StatusCode.INTERNAL, f"the request bytes do not parse as the {method} request message")
        return behaviour(request, context)
    return answer


class UndecodableRequests(grpc.ServerInterceptor):
    """Wraps each unary method: unparsable bytes become INTERNAL and one log line, not a traceback."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        return handler._replace(request_deserializer=_tolerant(handler.request_deserializer),
                                unary_unary=_refusing(handler.unary_unary, method))
