"""The daemon's Prometheus metrics, one registry per daemon (tests run several in a process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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
        self.analysis_seconds = Histogram(
            "logmarket_analysis_seconds",
            "Time to analyse, price and record one log, by path (api or window)",
            ["path"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.analyses = Counter(
            "logmarket_analyses", "Logs analysed, by source", ["source"], registry=r
        )
        self.payments = Counter("logmarket_payments", "Payments made", registry=r)
        self.paid_dollars = Counter(
            "logmarket_paid_dollars", "Money paid to Sub-PKPs, in US dollars", registry=r
        )
        self.windows = Counter(
            "logmarket_windows", "Windows closed and analysed, by reason", ["closed_by"], registry=r
        )
        self.pipeline_failures = Counter(
            "logmarket_pipeline_failures", "Pipeline steps that failed (retried)", registry=r
        )
        self.stage_failures = Counter(
            "logmarket_stage_failures",
            "Daemon stages that died (the daemon then exits non-zero)",
            ["stage"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "logmarket_inbox_commit_seconds",
            "Time to commit one group of batches",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )

    def watch(
        self,
        name: str,
        documentation: str,
        kind: Literal["counter", "gauge"],
        read: Callable[[], float | dict[str, float]],
        label: str = "kind",
    ) -> None:
        """A metric read at scrape time from another stage's own counters."""
        self.registry.register(_Watched(name, documentation, kind, read, label))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Watched(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        kind: Literal["counter", "gauge"],
        read: Callable[[], float | dict[str, float]],
        label: str,
    ) -> None:
        self.name, self.documentation, self.kind, self.read, self.label = (
            name, documentation, kind, read, label,
        )  # fmt: skip

    def collect(self) -> Iterator[Metric]:
        value = self.read()
        labels = [self.label] if isinstance(value, dict) else None
        family: CounterMetricFamily | GaugeMetricFamily
        if self.kind == "counter":
            family = CounterMetricFamily(self.name, self.documentation, labels=labels)
        else:
            family = GaugeMetricFamily(self.name, self.documentation, labels=labels)
        if isinstance(value, dict):
            for key, v in sorted(value.items()):
                family.add_metric([key], v)
        else:
            family.add_metric([], value)
        yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())
