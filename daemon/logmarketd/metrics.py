"""The daemon's Prometheus metrics, one registry per daemon (tests run several in a process)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

__all__ = ["REJECT_REASONS", "Metrics"]

# The *_created series only double the scrape, for no use here.
disable_created_metrics()  # type: ignore[no-untyped-call]

REJECT_REASONS = ("invalid-json", "invalid-frame", "too-large")


class Metrics:
    """Every counter a stage keeps; names are ``logmarket_*`` and part of the contract."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.records_received = Counter(
            "logmarket_records_received",
            "Records in accepted frames, duplicates included",
            registry=r,
        )
        self.records_stored = Counter(
            "logmarket_records_stored", "Records committed to the inbox", registry=r
        )
        self.records_duplicate = Counter(
            "logmarket_records_duplicate",
            "Records in resent batches already stored (acked, not stored again)",
            registry=r,
        )
        self.frames_rejected = Counter(
            "logmarket_frames_rejected", "Frames refused, by reason", ["reason"], registry=r
        )
        self.client_dropped = Counter(
            "logmarket_client_dropped",
            "Records clients dropped on their side (queue full), as they reported",
            registry=r,
        )
        for reason in REJECT_REASONS:
            self.frames_rejected.labels(reason)  # present at 0 from the first scrape
        self.frames_redacted = Counter(
            "logmarket_frames_redacted",
            "Frames in which secrets were replaced by placeholders before storage",
            registry=r,
        )
        self.batches_committed = Counter(
            "logmarket_batches_committed", "Batches committed to the inbox", registry=r
        )
        self.store_errors = Counter(
            "logmarket_store_errors", "Inbox commits that failed (nothing acked)", registry=r
        )
        self.connections = Gauge("logmarket_connections", "Open client connections", registry=r)
        self.connections_total = Counter(
            "logmarket_connections_accepted", "Client connections accepted", registry=r
        )
        self.inbox_depth = Gauge(
            "logmarket_inbox_depth", "Records in the inbox waiting for the pipeline", registry=r
        )
        self.inbox_queue = Gauge(
            "logmarket_inbox_queue_batches", "Batches waiting for the inbox writer", registry=r
        )
        self.commit_seconds = Histogram(
            "logmarket_inbox_commit_seconds",
            "Time to commit one group of batches",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
