"""Request counts and latencies under TF Serving's metric names, for its Prometheus page.

TF Serving (``servables/tensorflow/util.cc``) keeps, and serves on the REST port
at ``/monitoring/prometheus/metrics`` when its monitoring config enables
Prometheus (the name's ``/`` become ``:``):

* ``:tensorflow:serving:request_count{model_name, status}``: every Predict,
  Classify and Regress over gRPC and every REST call, ``status`` the
  canonical code name (``OK``, ``INVALID_ARGUMENT``, ...);
* ``:tensorflow:serving:request_latency{model_name, API, entrypoint}``: a
  histogram of the wall time in microseconds of the successful ones (``API``
  ``Predict``/``Classify``/``Regress`` over gRPC, the URL's ``predict``,
  ``classify``, ``regress`` over REST, empty for a REST GET; ``entrypoint``
  ``GRPC`` or ``REST``), buckets 10 µs × 1.8^i, 33 of them (~20 minutes).

Both are kept here the same way, for gRPC and REST alike, and one more that TF
Serving does not have, for what its labels leave out:
``:tfrec:serving:request_latency{model_name, version, signature_name, API,
entrypoint, status}``, the same histogram over every call, failed ones too
(its ``_count`` is the request count per version, signature and status).

One difference: prometheus_client writes a counter's ``# TYPE`` line as
``<name>_total``, so the request count is declared ``untyped`` to keep its
sample name exactly TF Serving's.
"""

from __future__ import annotations

import bisect
import threading
import time

import grpc
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import HistogramMetricFamily, Metric

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
DETAILED_LATENCY = ":tfrec:serving:request_latency"
BUCKET_LIMITS = [10 * 1.8 ** i for i in range(33)]  # TF's Buckets::Exponential(10, 1.8, 33), microseconds
GRPC_APIS = {"/tensorflow.serving.PredictionService/Predict": "Predict",
             "/tensorflow.serving.PredictionService/Classify": "Classify",
             "/tensorflow.serving.PredictionService/Regress": "Regress"}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _bucket_label(limit: float) -> str:
    return "%g" % limit  # as absl::StrCat writes a double


class _Histogram:
    def __init__(self):
        self.counts = [0] * (len(BUCKET_LIMITS) + 1)
        self.sum = 0.0

    def add(self, micros: float) -> None:
        self.counts[bisect.bisect_right(BUCKET_LIMITS, micros)] += 1  # TF: a bucket holds values below its limit
        self.sum += micros

    def buckets(self) -> list[tuple[str, int]]:
        total, out = 0, []
        for limit, count in zip(BUCKET_LIMITS + [float("inf")], self.counts):
            total += count
            out.append(("+Inf" if limit == float("inf") else _bucket_label(limit), total))
        return out


class ServingMetrics:
    """Thread-safe counts and histograms of the served calls; ``page()`` is the Prometheus text."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[tuple, int] = {}
        self._latency: dict[tuple, _Histogram] = {}
        self._detailed: dict[tuple, _Histogram] = {}
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)

    def record(self, model_name: str, api: str, entrypoint: str, status: str, seconds: float,
               version: str = "", signature_name: str = "") -> None:
        """One call: its model, API, GRPC or REST, status code name and wall time."""
        micros = seconds * 1e6
        with self._lock:
            key = (model_name, status)
            self._counts[key] = self._counts.get(key, 0) + 1
            if status == "OK":
                self._latency.setdefault((model_name, api, entrypoint), _Histogram()).add(micros)
            self._detailed.setdefault((model_name, version, signature_name, api, entrypoint, status),
                                      _Histogram()).add(micros)

    def collect(self):
        """The metric families (prometheus_client's collector protocol)."""
        with self._lock:
            counts = dict(self._counts)
            latency = {k: (h.buckets(), h.sum) for k, h in self._latency.items()}
            detailed = {k: (h.buckets(), h.sum) for k, h in self._detailed.items()}
        count = Metric(REQUEST_COUNT, "The total number of requests.", "unknown")
        for (model, status), value in sorted(counts.items()):
            count.add_sample(REQUEST_COUNT, {"model_name": model, "status": status}, value)
        yield count
        family = HistogramMetricFamily(
            REQUEST_LATENCY, "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            labels=["model_name", "API", "entrypoint"])
        for labels, (buckets, total) in sorted(latency.items()):
            family.add_metric(list(labels), buckets, total)
        yield family
        family = HistogramMetricFamily(
            DETAILED_LATENCY, "Distribution of wall time (in microseconds) of every request, failed ones too, "
            "by model version, signature and status.",
            labels=["model_name", "version", "signature_name", "API", "entrypoint", "status"])
        for labels, (buckets, total) in sorted(detailed.items()):
            family.add_metric(list(labels), buckets, total)
        yield family

    def page(self) -> bytes:
        return generate_latest(self._registry)

    def grpc_interceptor(self) -> grpc.ServerInterceptor:
        return _MetricsInterceptor(self)


class _MetricsInterceptor(grpc.ServerInterceptor):
    """Times Predict, Classify and Regress and records each with its status, as TF Serving's gRPC service does."""

    def __init__(self, metrics: ServingMetrics):
        self.metrics = metrics

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        api = GRPC_APIS.get(handler_call_details.method)
        if api is None or handler is None or handler.unary_unary is None:
            return handler
        behavior, metrics = handler.unary_unary, self.metrics

        def timed(request, context):
            started = time.perf_counter()
            spec = request.model_spec
            response, status = None, "UNKNOWN"
            try:
                response = behavior(request, context)
                code = context.code()
                status = "OK" if code is None else code.name
                return response
            except BaseException:
                code = context.code()
                status = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
                raise
            finally:
                answered = response.model_spec if response is not None and response.HasField("model_spec") else spec
                version = str(answered.version.value) if answered.HasField("version") else ""
                metrics.record(spec.name, api, "GRPC", status, time.perf_counter() - started, version=version,
                               signature_name=answered.signature_name or spec.signature_name)

        return grpc.unary_unary_rpc_method_handler(timed, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)
