"""Prometheus metrics every process shares: RPCs, outbox lag, consumer lag.

Services expose them with ``serve_metrics`` (its own port); the gateway on ``/metrics``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_REQUESTS = Counter(
    "shequ_rpc_requests_total", "gRPC calls served, by outcome", ["service", "method", "code"]
)
RPC_DURATION = Histogram("shequ_rpc_duration_seconds", "gRPC call duration", ["service", "method"])
OUTBOX_PENDING = Gauge(
    "shequ_outbox_pending_events", "Events written but not yet published", ["service"]
)
OUTBOX_LAG = Gauge("shequ_outbox_lag_seconds", "Age of the oldest unpublished event", ["service"])
OUTBOX_PUBLISHED = Counter(
    "shequ_outbox_published_total", "Events published to Kafka", ["service", "topic"]
)
CONSUMER_LAG = Gauge(
    "shequ_consumer_lag_messages",
    "Messages behind the end of the partition",
    ["group", "topic", "partition"],
)
CONSUMER_EVENTS = Counter(
    "shequ_consumer_events_total",
    "Events handled by consumers, by outcome (applied, duplicate, retried, dead_lettered)",
    ["group", "topic", "outcome"],
)


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - scraped in-cluster
    """Expose /metrics on ``port`` from a background thread."""
    start_http_server(port, addr=host)
