"""A client-side conformance suite: what a TF Serving client does, and what TF Serving answers.

Each case is one thing a client of TF Serving does (a request over gRPC or
REST) and the answer TF Serving gives to it, as its sources and documentation
define. ``tests/serving/test_conformance.py`` runs every case against
``tfrec serve`` and, when the binary is on PATH, against
``tensorflow_model_server``, with the same expectations. Cases live in the
modules of this package (``grpc_cases``, ``rest_cases``, ...): each defines
``CASES``, a list of :class:`Case`.

    python -m tests.serving.conformance --grpc 127.0.0.1:8500 [--rest http://127.0.0.1:8501]

prints the table (case, TF Serving's answer, the server's) against a server
already running over an export of the retrieval model.
"""
