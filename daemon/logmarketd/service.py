"""The daemon's lifecycle: one object, explicit phases (startup → serve → shutdown).

Startup opens the store, binds the socket, starts the inbox writer, ingest and HTTP; a failure
there is a clear message and exit code 1. SIGTERM/SIGINT begin a graceful shutdown: stop
accepting and reading, let every batch already read commit and be acknowledged (up to
``shutdown_timeout``), stop HTTP, close the store, remove the socket file. A second signal
cuts the drain short. Every task started here is awaited or cancelled before ``run`` returns.

Every stage is supervised: one that dies (the inbox writer, the pipeline, the file watcher)
is logged and counted, ``/healthz`` answers 503 naming it, and the daemon shuts down and
exits 1 so the service manager restarts it. A live process that silently stores nothing is
the one outcome not allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from aiohttp import web

from logmarketd import systemd
from logmarketd.errors import ConfigError, StartupError
from logmarketd.ingest.inbox import InboxWriter
from logmarketd.ingest.redact import Redactor, load_or_create_key
from logmarketd.ingest.server import IngestServer, bind_unix_socket
from logmarketd.ingest.watch import WatchHandle, start_watchers
from logmarketd.market.events import Event, EventBus, OutboxReader
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import Ledger
from logmarketd.market.marketplace import Marketplace, llm_enrich, rules_analyzer
from logmarketd.market.webhooks import WebhookDeliverer
from logmarketd.metrics import Metrics
from logmarketd.serve.api import ApiContext, add_routes
from logmarketd.serve.auth import ensure_admin_token
from logmarketd.serve.http import make_app
from logmarketd.settings import Settings
from logmarketd.store.db import Store
from logmarketd.transform.windows import Pipeline

__all__ = ["Daemon"]

log = structlog.get_logger("logmarketd")

_FAILED_GRACE = 1.0  # seconds /healthz answers 503 after a stage died, before shutdown


class Daemon:
    def __init__(self, settings: Settings, *, on_ready: Callable[[Daemon], None] | None = None):
        self.settings = settings
        self.on_ready = on_ready
        self.metrics = Metrics()
        self.should_exit = asyncio.Event()
        self.force_exit = False
        self._forced = asyncio.Event()
        self.http_url: str | None = None
        self._store: Store | None = None
        self._inbox: InboxWriter | None = None
        self._ingest: IngestServer | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self._sock_ino: int | None = None
        self._notifier: systemd.Notifier | None = None
        self._notifier_task: asyncio.Task[None] | None = None
        self.bus = EventBus()
        self._outbox: OutboxReader | None = None
        self.market: Marketplace | None = None
        self.webhooks: WebhookDeliverer | None = None
        self._watch: WatchHandle | None = None
        self._llm_cache: Any = (
            None  # logmarketd.analysis.llm.cache.SqliteCache, when a model is set
        )
        self.pipeline: Pipeline | None = None
        self._pipeline_task: asyncio.Task[None] | None = None
        self.admin_token: str | None = None
        self.admin_token_generated = False
        self.failure: tuple[str, str] | None = None  # (stage, reason) of the first to die
        self._stopping = False
        self._supervisor_task: asyncio.Task[None] | None = None

    def request_exit(self) -> None:
        if self.should_exit.is_set():
            self.force_exit = True
            self._forced.set()
            log.warning("second signal: closing without waiting for acks")
        self.should_exit.set()

    async def run(self) -> int:
        """Serve until asked to stop; the process exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_exit)
        try:
            try:
                await self.startup()
            except (StartupError, ConfigError) as exc:
                log.error("startup failed", error=str(exc))
                return 1
            assert self._notifier is not None
            self._notifier.ready(self.status())
            self._notifier_task = asyncio.create_task(
                self._notifier.run(self.status), name="systemd-notify"
            )
            if self.on_ready is not None:
                self.on_ready(self)
            log.info("serving", socket=str(self.settings.socket_path), http=self.http_url)
            await self.should_exit.wait()
            if self.failure is None:
                return 0
            # Health probes see the 503 and its reason before the port closes.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._forced.wait(), _FAILED_GRACE)
            return 1
        finally:
            await self.shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _stage(self, name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Start a stage as a supervised task: its end before shutdown is a failure."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(lambda t: self._stage_ended(name, t))
        return task

    def _stage_ended(self, name: str, task: asyncio.Task[None]) -> None:
        if self._stopping:
            return
        if task.cancelled():
            self.stage_failed(name, "cancelled")
        else:
            exc = task.exception()
            self.stage_failed(name, repr(exc) if exc is not None else "ended on its own")

    def stage_failed(self, name: str, reason: str) -> None:
        """A stage died: fail health, count it, and stop (exit code 1)."""
        if self.failure is None:
            self.failure = (name, reason)
        self.metrics.stage_failures.labels(name).inc()
        log.error("stage failed; stopping so the service manager restarts the daemon",
                  stage=name, error=reason)  # fmt: skip
        self.should_exit.set()

    async def _supervise_threads(self, interval: float = 0.5) -> None:
        """The file watcher runs in a thread: look at it, since no task ends when it dies."""
        while True:
            await asyncio.sleep(interval)
            if self._watch is not None and self._watch.error is not None:
                self.stage_failed("watch", repr(self._watch.error))
                return

    def status(self) -> str:
        """One line of live counts (systemd's STATUS=)."""
        return systemd.status_line(self.metrics)

    async def startup(self) -> None:
        s = self.settings
        # Read (and remove) the service manager's variables before anything else.
        self._notifier = systemd.Notifier()
        self._sock = systemd.activated_unix_socket()  # None unless given by logmarketd.socket
        try:
            s.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StartupError(f"cannot create the state directory {s.state_dir}: {exc}") from exc
        self._store = await Store.open(s.db_path, sync=s.sync)
        self._inbox = InboxWriter(self._store, self.metrics, max_records=s.commit_max_records)
        await self._inbox.start()
        self._writer_task = self._stage("inbox-writer", self._inbox.run())
        self.webhooks = WebhookDeliverer(
            s.db_path, s.webhook_url, s.webhook_secret, max_backoff=s.webhook_max_backoff
        )
        await self.webhooks.start()
        self.redactor = Redactor(
            load_or_create_key(s.state_dir / "redaction.key"),
            pii=s.redact_pii,
            allowlist=s.redact_allowlist,
        )
        self.market = await self._marketplace()
        if s.log_marketplace_enabled:
            self.pipeline = Pipeline(
                self._store, self._inbox, self.market,
                max_records=s.window_max_records, window_seconds=s.window_seconds,
            )  # fmt: skip
            self._pipeline_task = self._stage("pipeline", self.pipeline.run())
        if self._sock is None:
            self._sock = bind_unix_socket(s.socket_path, s.socket_mode)
            self._sock_ino = os.stat(s.socket_path).st_ino
        else:
            # The socket unit owns the file: never unlinked by us (_sock_ino stays None).
            log.info("using the socket passed by the service manager",
                     socket=self._sock.getsockname())  # fmt: skip
        self._ingest = IngestServer(
            self._inbox, self.metrics, max_frame_bytes=s.max_frame_bytes, redactor=self.redactor
        )
        await self._ingest.start(self._sock)
        address = s.http_host_port
        if address is not None:
            await self._serve_http(address)
        if s.watch:
            # The watcher ships to our own socket through the same protocol and acks as any
            # client; it runs in a thread of its own (blocking I/O, watchdog's observer).
            try:
                self._watch = await asyncio.to_thread(
                    start_watchers, s.watch, s.socket_path, s.state_dir,
                    from_beginning=s.watch_from_beginning, rules=s.watch_rules,
                    sub_pkp_id=s.watch_sub_pkp, poll=s.watch_poll,
                )  # fmt: skip
            except ValueError as exc:  # TailError: a bad path, glob or rule
                raise ConfigError(f"--watch: {exc}") from exc
            self._supervisor_task = self._stage("supervisor", self._supervise_threads())

    async def _marketplace(self) -> Marketplace:
        """The marketplace: ledger, pricing, game, events; the admin token for its API."""
        s = self.settings
        assert self._store is not None
        configured = s.admin_token.get_secret_value() if s.admin_token else None
        self.admin_token, self.admin_token_generated = ensure_admin_token(s.state_dir, configured)
        ledger = Ledger(
            self._store,
            GameRules(s.points_per_dollar, s.quality_multiplier_enabled),
            daily_cap=s.daily_payout_cap,
        )
        enrich = None
        if s.llm_provider != "rules":
            # Imported only when a model is configured: the SDKs cost seconds at startup.
            from logmarketd.analysis.llm.cache import SqliteCache
            from logmarketd.analysis.llm.config import LLMConfig
            from logmarketd.analysis.llm.enrich import build_enricher

            config = LLMConfig(
                provider=s.llm_provider, model=s.llm_model, base_url=s.llm_base_url,
                timeout=s.llm_timeout, max_concurrency=s.llm_max_concurrency,
                daily_token_budget=s.llm_daily_token_budget,
            )  # fmt: skip
            self._llm_cache = await SqliteCache.open(s.state_dir / "llm-cache.db")
            enricher = build_enricher(config, redactor=self.redactor, cache=self._llm_cache)
            enrich = llm_enrich(enricher)
            st = enricher.stats
            m = self.metrics
            m.watch("logmarket_llm_calls", "Model requests", "counter", lambda: st.calls)
            m.watch("logmarket_llm_tokens", "Model tokens spent", "counter", lambda: st.tokens)
            m.watch("logmarket_llm_cache_hits", "Enrichments served from the cache", "counter",
                    lambda: st.cache_hits)  # fmt: skip
            m.watch("logmarket_llm_fallbacks", "Groups left to the rules, by reason", "counter",
                    lambda: {k: float(v) for k, v in st.fallbacks.items()}, "reason")  # fmt: skip
        bus = self.bus
        self.metrics.watch("logmarket_events_published", "Events handed to live listeners",
                           "counter", lambda: bus.published)  # fmt: skip
        self.metrics.watch("logmarket_events_dropped", "Events slow live listeners lost",
                           "counter", lambda: bus.dropped)  # fmt: skip
        hooks = self.webhooks
        if hooks is not None:
            self.metrics.watch("logmarket_webhook_deliveries", "Webhook events delivered",
                               "counter", lambda: hooks.delivered)  # fmt: skip
            self.metrics.watch("logmarket_webhook_failures", "Webhook delivery attempts failed",
                               "counter", lambda: hooks.failures)  # fmt: skip
        return Marketplace(
            self._store, ledger, s, rules_analyzer(s, self.redactor), self._published,
            redactor=self.redactor, enrich=enrich, metrics=self.metrics,
        )  # fmt: skip

    def _published(self, events: list[Event]) -> None:
        """Committed events: to live listeners now, to the webhook as soon as it can."""
        self.bus.publish(events)
        if self.webhooks is not None:
            self.webhooks.wake()

    async def _serve_http(self, address: tuple[str, int]) -> None:
        s = self.settings
        assert self._store and self._inbox and self._ingest and self.market and self.admin_token
        app = make_app(self.metrics, max_body_bytes=s.max_body_bytes, health=lambda: self.failure)
        self._outbox = await OutboxReader.open(s.db_path)
        add_routes(app, ApiContext(
            self._store, self.market, self.admin_token,
            requests_per_minute=s.requests_per_minute, bus=self.bus, backlog=self._outbox.after,
        ))  # fmt: skip
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, address[0], address[1], reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(f"cannot listen for HTTP on {s.http}: {exc}") from exc
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        self.http_url = f"http://{host}:{address[1]}"

    async def shutdown(self) -> None:
        self._stopping = True
        timeout = 0.0 if self.force_exit else self.settings.shutdown_timeout
        if self._supervisor_task is not None:
            self._supervisor_task.cancel()
            await asyncio.gather(self._supervisor_task, return_exceptions=True)
            self._supervisor_task = None
        if self._notifier is not None:
            self._notifier.stopping()
        if self._notifier_task is not None:
            self._notifier_task.cancel()
            await asyncio.gather(self._notifier_task, return_exceptions=True)
            self._notifier_task = None
        if self._watch is not None:
            await asyncio.to_thread(self._watch.stop, max(timeout, 1.0))
            self._watch = None
        if self._ingest is not None:
            await self._ingest.stop(timeout)
        if self.pipeline is not None and self._pipeline_task is not None:
            # Open windows stay in the inbox: the next start picks them up where they were.
            self.pipeline.stop()
            try:
                await asyncio.wait_for(self._pipeline_task, timeout=max(timeout, 1.0))
            except TimeoutError:
                self._pipeline_task.cancel()
                log.warning("pipeline cancelled mid-window; it resumes from the inbox")
                await asyncio.gather(self._pipeline_task, return_exceptions=True)
        self.bus.close()  # live event streams end, so the HTTP server can close
        if self.webhooks is not None:
            await self.webhooks.stop()  # undelivered events stay in the outbox for next time
            self.webhooks = None
        if self._runner is not None:
            await self._runner.cleanup()
        if self._outbox is not None:
            await self._outbox.close()
            self._outbox = None
        # A dead writer would never take the stop.
        if self._inbox is not None and self._writer_task and not self._writer_task.done():
            await self._inbox.stop()
            try:
                await asyncio.wait_for(self._writer_task, timeout=max(timeout, 1.0))
            except TimeoutError:
                log.warning("inbox writer did not finish in time")
        if self._llm_cache is not None:
            await self._llm_cache.close()
            self._llm_cache = None
        if self._store is not None:
            await self._store.close()
        self._remove_socket()
        self._store = self._inbox = self._ingest = self._runner = None
        self._writer_task = self._pipeline_task = None
        self.pipeline = None

    def _remove_socket(self) -> None:
        if self._sock is None:
            return
        path = self.settings.socket_path
        with contextlib.suppress(OSError):
            # Only our own socket: a daemon started after us may already own the path.
            if os.stat(path).st_ino == self._sock_ino:
                os.unlink(path)
        self._sock.close()
        self._sock = None
