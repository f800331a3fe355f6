"""The daemon's Prometheus metrics, one registry per daemon (tests run several in a process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Generic, Literal, TypeVar, overload

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


_M = TypeVar("_M", Counter, Gauge, Histogram)


class _Declared(Generic[_M]):
    """A metric declared in the body of :class:`Metrics`: ``Metrics()`` makes one in its own
    registry (in the order of declaration) and sets it as the instance's attribute of the
    same name, which then hides this declaration."""

    def __init__(self, make: Callable[[CollectorRegistry], _M]) -> None:
        self.make: Callable[[CollectorRegistry], _M] = make

    @overload
    def __get__(self, obj: None, owner: type) -> _Declared[_M]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _M: ...
    def __get__(self, obj: object | None, owner: type) -> _Declared[_M] | _M:
        if obj is None:
            return self
        raise AttributeError("a metric is made by Metrics.__init__")


def _counter(name: str, doc: str, labels: Sequence[str] = ()) -> _Declared[Counter]:
    return _Declared(lambda r: Counter(name, doc, labels, registry=r))


def _gauge(name: str, doc: str) -> _Declared[Gauge]:
    return _Declared(lambda r: Gauge(name, doc, registry=r))


def _histogram(
    name: str, doc: str, labels: Sequence[str] = (), *, buckets: Sequence[float]
) -> _Declared[Histogram]:
    return _Declared(lambda r: Histogram(name, doc, labels, buckets=buckets, registry=r))


class Metrics:
    """Every counter a stage keeps; names are ``logmarket_*`` and part of the contract."""

    # -- ingest
    records_received = _counter(
        "logmarket_records_received", "Records in accepted frames, duplicates included"
    )
    records_stored = _counter("logmarket_records_stored", "Records committed to the inbox")
    records_duplicate = _counter(
        "logmarket_records_duplicate",
        "Records in resent batches already stored (acked, not stored again)",
    )
    frames_rejected = _counter("logmarket_frames_rejected", "Frames refused, by reason", ["reason"])
    client_dropped = _counter(
        "logmarket_client_dropped",
        "Records clients dropped on their side (queue full), as they reported",
    )
    hello_keys = _counter(
        "logmarket_hello_keys",
        "Hellos with a Sub-PKP key, by result: accepted (credited) or refused (unknown, wrong"
        " or revoked: the records are kept uncredited); revoked: keys found revoked on an"
        " open connection",
        ["result"],
    )
    frames_redacted = _counter(
        "logmarket_frames_redacted",
        "Frames in which secrets were replaced by placeholders before storage",
    )
    batches_committed = _counter("logmarket_batches_committed", "Batches committed to the inbox")
    store_errors = _counter("logmarket_store_errors", "Inbox commits that failed (nothing acked)")
    connections = _gauge("logmarket_connections", "Open client connections")
    connections_total = _counter("logmarket_connections_accepted", "Client connections accepted")
    inbox_depth = _gauge("logmarket_inbox_depth", "Records in the inbox waiting for the pipeline")
    inbox_queue = _gauge("logmarket_inbox_queue_batches", "Batches waiting for the inbox writer")
    # -- analysis, market, pipeline
    analysis_seconds = _histogram(
        "logmarket_analysis_seconds",
        "Time to analyse, price and record one log, by path (api or window)",
        ["path"],
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    )
    analyses = _counter("logmarket_analyses", "Logs analysed, by source", ["source"])
    payments = _counter("logmarket_payments", "Payments made")
    paid_dollars = _counter("logmarket_paid_dollars", "Money paid to Sub-PKPs, in US dollars")
    payouts_refused = _counter(
        "logmarket_payouts_refused", "Auto-payments refused by a daily cap, by which", ["reason"]
    )
    payouts_settled = _counter("logmarket_payouts_settled", "Held payouts settled")
    windows = _counter("logmarket_windows", "Windows closed and analysed, by reason", ["closed_by"])
    pipeline_failures = _counter(
        "logmarket_pipeline_failures", "Pipeline steps that failed (retried)"
    )
    retention_pruned = _counter(
        "logmarket_retention_pruned",
        "Rows past the retention whose log text was taken out (analyses: evidence stripped;"
        " windows, kept Idempotency-Key answers, events: deleted), by table",
        ["table"],
    )
    retention_failures = _counter(
        "logmarket_retention_failures", "Retention runs that failed (tried again at the next)"
    )
    stage_failures = _counter(
        "logmarket_stage_failures",
        "Daemon stages that died (the daemon then exits non-zero)",
        ["stage"],
    )
    commit_seconds = _histogram(
        "logmarket_inbox_commit_seconds",
        "Time to commit one group of batches",
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    )

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for attr, declared in vars(Metrics).items():
            if isinstance(declared, _Declared):
                setattr(self, attr, declared.make(self.registry))
        for reason in REJECT_REASONS:
            self.frames_rejected.labels(reason)  # present at 0 from the first scrape
        for result in ("accepted", "refused", "revoked"):
            self.hello_keys.labels(result)

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
