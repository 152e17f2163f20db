"""Prometheus metrics of one server (its own registry: two apps in one process never mix).

``GET /metrics`` serves them in the Prometheus text format:

- ``domaintune_requests_total{route,method,status}``: requests answered, by route template
  (``/v1/predict``, never the raw path, so that ``/v1/items/123`` does not make a series per id);
  requests that match no route count as ``route="unmatched"``.
- ``domaintune_request_seconds{route}``: latency histogram, from the first byte to the response.
- ``domaintune_batch_size{batcher}``: how many texts each model call got (micro-batching).
- ``domaintune_batch_seconds{batcher}``: how long each model call took.
- ``domaintune_errors_total{code}``: error responses by error code (``too_many_texts`` ...).
- ``domaintune_inflight_requests``: requests being answered now.

Example:
    >>> m = ServeMetrics()
    >>> m.observe_request("/v1/predict", "POST", 200, 0.012)
    >>> b"domaintune_requests_total" in m.render()[0]
    True
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServeMetrics:
    """The metrics of one app (see the module docstring for the series)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("domaintune_requests", "Requests answered.",
                                ("route", "method", "status"), registry=r)
        self.latency = Histogram("domaintune_request_seconds", "Request latency in seconds.",
                                 ("route",), buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("domaintune_batch_size", "Texts per model call.",
                                    ("batcher",), buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("domaintune_batch_seconds", "Seconds per model call.",
                                       ("batcher",), buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("domaintune_errors", "Error responses by error code.", ("code",),
                              registry=r)
        self.inflight = Gauge("domaintune_inflight_requests", "Requests being answered now.",
                              registry=r)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def observe_error(self, code: str) -> None:
        """Count one error response."""
        self.errors.labels(code=code).inc()

    def batch_observer(self, batcher: str):
        """``observer(size, seconds)`` for a :class:`~domaintune.serving.MicroBatcher`."""
        size = self.batch_size.labels(batcher=batcher)
        seconds = self.batch_seconds.labels(batcher=batcher)

        def observe(n: int, took: float) -> None:
            size.observe(n)
            seconds.observe(took)

        return observe

    def render(self) -> tuple[bytes, str]:
        """``(body, content type)`` of ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
