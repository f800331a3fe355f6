"""The daemon's lifecycle: every part entered once on one ``AsyncExitStack``, unwound in reverse.

Startup takes the socket (passed by the service manager, or bound), reads the redaction key,
opens the store, starts the inbox writer, webhooks, marketplace, pipeline, retention job,
ingest, HTTP and the file watcher, in that order. Each part is pushed on the stack with what
undoes it the moment it has started, so whatever ends the run (a stop, a signal, a stage
dying, a startup step failing halfway) undoes exactly what was started, last first: stop
watching, close HTTP, stop accepting and let every batch already read commit and be
acknowledged (up to ``shutdown_timeout``), stop the pipeline, webhooks and writer, close the
store, remove the socket file. A second signal cuts the waits short. A startup error is one
log line and exit code 1.

Every stage is supervised: one that dies (the inbox writer, the pipeline, the file watcher)
is logged and counted, ``/healthz`` answers 503 naming it, and the daemon shuts down and
exits 1 so the service manager restarts it. A live process that silently stores nothing is
the one outcome not allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
import structlog
from aiohttp import web

from logmarketd import systemd
from logmarketd.analysis import rules
from logmarketd.analysis.analyser import Analyser
from logmarketd.errors import ConfigError, StartupError
from logmarketd.flow import Flow
from logmarketd.ingest.inbox import InboxWriter
from logmarketd.ingest.redact import Redactor, load_or_create_key
from logmarketd.ingest.server import IngestServer, bind_unix_socket
from logmarketd.ingest.watch import WatchHandle, start_watchers
from logmarketd.market.chain import head_signed_by
from logmarketd.market.events import (
    Event,
    EventBus,
    OutboxReader,
    StoreOutboxReader,
    follow_outbox,
    prune_events,
)
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import Ledger
from logmarketd.market.marketplace import Marketplace
from logmarketd.market.signing import LedgerKey, load_or_create_ledger_key, write_public_key
from logmarketd.market.webhooks import WebhookDeliverer
from logmarketd.metrics import Metrics
from logmarketd.serve.api import ApiContext, add_routes
from logmarketd.serve.auth import ensure_admin_token
from logmarketd.serve.http import make_app
from logmarketd.settings import Settings
from logmarketd.store.db import Store
from logmarketd.store.engine import redacted
from logmarketd.store.retention import Prune, Retention
from logmarketd.transform.windows import Pipeline

if TYPE_CHECKING:
    from logmarketd.analysis.llm.enrich import Enricher

__all__ = ["Daemon"]

log = structlog.get_logger("logmarketd")

_FAILED_GRACE = 1.0  # seconds /healthz answers 503 after a stage died, before shutdown
_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Stack = contextlib.AsyncExitStack


class Daemon:
    """One run of the daemon: :meth:`run` starts it, serves, and undoes what it started."""

    def __init__(self, settings: Settings, *, on_ready: Callable[[Daemon], None] | None = None):
        self.settings = settings
        self.on_ready = on_ready
        self.metrics = Metrics()
        self.bus = EventBus()
        self.should_exit = asyncio.Event()
        self.force_exit = False
        self._forced = asyncio.Event()
        self.http_url: str | None = None  # once HTTP listens
        self.admin_token: str | None = None
        self.admin_token_generated = False
        self.store: Store | None = None  # opened at startup, closed when run() returns
        self.stages: dict[str, asyncio.Task[None]] = {}  # the supervised tasks, by name
        self.failure: tuple[str, str] | None = None  # (stage, reason) of the first to die
        self.store_down: str | None = None  # why the shared store is unreachable, if it is
        self._stopping = False
        self._stop_counts: dict[str, float] | None = None  # the totals when the stop began

    def request_exit(self) -> None:
        if self.should_exit.is_set():
            self.force_exit = True
            self._forced.set()
            log.warning("second signal: closing without waiting for acks")
        self.should_exit.set()

    async def run(self) -> int:
        """Serve until asked to stop; the process exit code: 0 after a stop, 1 after a startup
        error or a stage failure. Every part started is undone before it returns."""
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, self.request_exit)
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    return await self._serve(stack)
                finally:
                    self._stopping = True  # a stage that ends from here on is being stopped
        finally:
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)
            self._log_stopped()

    def _counts(self) -> dict[str, float]:
        """The running totals the stop line is made of."""

        def value(name: str) -> float:
            return self.metrics.registry.get_sample_value(name) or 0.0

        windows = sum(
            s.value
            for family in self.metrics.windows.collect()
            for s in family.samples
            if s.name.endswith("_total")
        )
        return {
            "records": value("logmarket_records_stored_total"),
            "frames": value("logmarket_batches_committed_total"),
            "windows": windows,
            "inbox": value("logmarket_inbox_depth"),
            "at": time.monotonic(),
        }

    def _log_stopped(self) -> None:
        """One line when a daemon that served stops: what it stored, and what the drain
        committed and analysed after the stop was asked (records and frames flushed, windows
        closed), and what waits in the inbox for the next start."""
        before = self._stop_counts
        if before is None:
            return
        after = self._counts()
        log.info(
            "stopped",
            records_stored=int(after["records"]),
            records_drained=int(after["records"] - before["records"]),
            frames_drained=int(after["frames"] - before["frames"]),
            windows_closed=int(after["windows"] - before["windows"]),
            inbox_left=int(after["inbox"]),
            seconds=round(after["at"] - before["at"], 3),
            exit_code=1 if self.failure else 0,
        )

    async def _serve(self, stack: Stack) -> int:
        try:
            notifier = await self._start(stack)
        except (ConfigError, OSError) as exc:
            # StartupError is an OSError; so is any other refusal by the host (a file, a
            # directory, a port): said in one line, without a traceback.
            log.error("startup failed", error=str(exc))
            return 1
        self._notify(stack, notifier)
        if self.on_ready is not None:
            self.on_ready(self)
        log.info("serving", socket=str(self.settings.socket_path), http=self.http_url)
        await self.should_exit.wait()
        self._stop_counts = self._counts()
        if self.failure is None:
            return 0
        # Health probes see the 503 and its reason before the port closes.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._forced.wait(), _FAILED_GRACE)
        return 1

    async def _start(self, stack: Stack) -> systemd.Notifier:
        """Start every part in the order they depend on each other, each pushed on ``stack``."""
        s = self.settings
        # The service manager's variables, read (LISTEN_* also removed) before anything else.
        notifier = systemd.Notifier()
        sock = systemd.activated_unix_socket()  # None unless given by logmarketd.socket
        if sock is not None:
            stack.callback(sock.close)  # the socket unit owns the file: never unlinked here
            log.info("using the socket passed by the service manager",
                     socket=sock.getsockname())  # fmt: skip
        self._make_state_dir()
        if sock is None:
            # Bound first: a second daemon on the path is refused before it opens the store.
            sock = self._bind(stack)
        redactor = self._redactor()
        ledger_key = self._ledger_key()
        store = self.store = await Store.open(s.db_path, sync=s.sync)
        stack.push_async_callback(store.close)
        shared = await self._shared_store(stack, store)
        inbox = await self._inbox(stack, store)
        webhooks = WebhookDeliverer(
            s.db_path, s.webhook_url, s.webhook_secret, max_backoff=s.webhook_max_backoff,
            store=None if shared is store else shared,
        )  # fmt: skip
        await webhooks.start()
        stack.push_async_callback(webhooks.stop)  # undelivered events stay in the outbox
        if shared is not store:
            self._follow_outbox(stack, shared, webhooks)
        market = self._marketplace(shared, webhooks, ledger_key)
        await market.ledger.seal()  # rows from before the ledger was signed, chained once
        if shared is not store and await head_signed_by(shared, ledger_key.public_key) is False:
            raise StartupError(
                "this daemon's ledger.key is not the one the shared store's ledger is signed "
                "with: copy the fleet's ledger.key into the state directory (see docs/fleet.md)"
            )
        analyser = await self._analyser(stack, shared, redactor)
        flow = Flow(store, analyser, market, self.metrics, instance=self._instance_id(shared))
        pipeline = None
        if s.log_marketplace_enabled:
            pipeline = self._pipeline(stack, store, inbox, flow, redactor)
        ingest = IngestServer(inbox, self.metrics, max_frame_bytes=s.max_frame_bytes,
                              redactor=redactor, peer_credits=s.peer_credits,
                              keys=shared)  # fmt: skip
        await ingest.start(sock)
        stack.push_async_callback(lambda: ingest.stop(self._drain_time()))
        if s.http_host_port is not None:
            await self._serve_http(stack, s.http_host_port, shared, flow)
        if s.watch:
            await self._watch(stack)
        # The periodic jobs last: a start that fails above has nothing of theirs to unwind.
        if s.log_marketplace_enabled:
            self._settlement(stack, market, shared)
        self._retention(stack, store, shared, pipeline)
        return notifier

    def _notify(self, stack: Stack, notifier: systemd.Notifier) -> None:
        """Tell the service manager we are ready, keep it informed, and say STOPPING=1 first
        thing when the stack unwinds."""
        notifier.ready(self.status())
        task = asyncio.create_task(notifier.run(self.status), name="systemd-notify")
        stack.push_async_callback(_cancel, task)
        stack.callback(notifier.stopping)

    # -- supervision ------------------------------------------------------------------------

    def _stage(self, name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Start a stage as a supervised task: its end before shutdown is a failure."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(lambda t: self._stage_ended(name, t))
        self.stages[name] = task
        return task

    def _supervised(
        self,
        stack: Stack,
        name: str,
        coro: Coroutine[Any, Any, None],
        stop: Callable[[], Awaitable[None]] | None = None,
        late: str = "",
    ) -> None:
        """A stage on the stack: unwinding calls ``stop`` (None: cancels), waits the drain
        time (at least a second), then logs ``late`` and cancels it if it is still running."""
        task = self._stage(name, coro)
        stack.push_async_callback(self._end_stage, task, stop, late)

    async def _end_stage(
        self, task: asyncio.Task[None], stop: Callable[[], Awaitable[None]] | None, late: str
    ) -> None:
        # A stage that died takes no stop (a dead inbox writer would never take it).
        if stop is not None and not task.done():
            await stop()
            done, _ = await asyncio.wait({task}, timeout=max(self._drain_time(), 1.0))
            if not done:
                log.warning(late, stage=task.get_name())
        await _cancel(task)

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

    async def _supervise_threads(self, watch: WatchHandle, interval: float = 0.5) -> None:
        """The file watcher runs in a thread: look at it, since no task ends when it dies."""
        while True:
            await asyncio.sleep(interval)
            if watch.error is not None:
                self.stage_failed("watch", repr(watch.error))
                return

    def status(self) -> str:
        """One line of live counts (systemd's STATUS=)."""
        return systemd.status_line(self.metrics)

    def _drain_time(self) -> float:
        """How long unwinding waits for acks and stages: not at all after a second signal."""
        return 0.0 if self.force_exit else self.settings.shutdown_timeout

    # -- the parts, each entered on the stack -----------------------------------------------

    def _make_state_dir(self) -> None:
        path = self.settings.state_dir
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StartupError(f"cannot create the state directory {path}: {exc}") from exc

    def _bind(self, stack: Stack) -> socket.socket:
        path = self.settings.socket_path
        sock = bind_unix_socket(path, self.settings.socket_mode)
        stack.callback(sock.close)
        stack.callback(_unlink_if_ours, path, os.stat(path).st_ino)
        return sock

    def _redactor(self) -> Redactor:
        """The redactor with the installation's key (a key file in the state directory)."""
        s = self.settings
        path = s.state_dir / "redaction.key"
        try:
            key = load_or_create_key(path)
        except ValueError as exc:
            raise StartupError(
                f"{exc}: move it aside and start again to make a new key (placeholders in "
                "new records then differ from those stored before)"
            ) from exc
        except OSError as exc:
            raise StartupError(f"cannot read or create the redaction key {path}: {exc}") from exc
        return Redactor(key, pii=s.redact_pii, allowlist=s.redact_allowlist)

    async def _shared_store(self, stack: Stack, store: Store) -> Any:
        """The marketplace's store: this daemon's own (the embedded SQLite), or with
        ``--store postgresql://…`` the one a fleet of daemons shares (migrated at the first
        start; the inbox and windows stay here)."""
        s = self.settings
        if s.store is None:
            return store
        from logmarketd.store.pg import PgStore  # the fleet extra, only when asked for

        shared = await PgStore.open(s.store)
        shared.local = store
        stack.push_async_callback(shared.close)
        log.info("marketplace store shared", engine="postgresql", store=redacted(s.store))
        self._probe_store(stack, shared)
        return shared

    def _follow_outbox(self, stack: Stack, shared: Any, webhooks: WebhookDeliverer) -> None:
        """Every event of the fleet to this daemon's live listeners (SSE) as it commits, and
        a wake-up for the webhook (delivered by whichever daemon holds its lock)."""
        stop = asyncio.Event()

        async def stopped() -> None:
            stop.set()

        def publish(events: list[Event]) -> None:
            self.bus.publish(events)
            webhooks.wake()

        self._supervised(stack, "outbox-follower",
                         follow_outbox(shared, publish, stop), stopped)  # fmt: skip

    def _probe_store(self, stack: Stack, shared: Any, every: float = 2.0) -> None:
        """``/healthz`` fails while the shared store cannot be reached and recovers when it
        is back; ingest goes on meanwhile (the inbox fills, windows wait)."""
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                down = await shared.ping(timeout=every)
                if down is not None and self.store_down is None:
                    log.warning("shared store unreachable; /healthz fails", error=down)
                elif down is None and self.store_down is not None:
                    log.info("shared store reachable again")
                self.store_down = down
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), every)

        async def stopped() -> None:
            stop.set()

        self._supervised(stack, "store-probe", probe(), stopped)

    def _instance_id(self, shared: Any) -> str:
        """A name for this daemon's windows in a shared store, made once in the state
        directory (its inbox positions are its own); "local" with the embedded store."""
        if shared is self.store:
            return "local"
        path = self.settings.state_dir / "instance.id"
        try:
            if not path.exists():
                path.write_text(uuid.uuid4().hex + "\n")
            return path.read_text().strip()
        except OSError as exc:
            raise StartupError(f"cannot read or create {path}: {exc}") from exc

    async def _inbox(self, stack: Stack, store: Store) -> InboxWriter:
        inbox = InboxWriter(store, self.metrics, max_records=self.settings.commit_max_records)
        await inbox.start()
        self._supervised(stack, "inbox-writer", inbox.run(), inbox.stop,
                         late="inbox writer did not finish in time")  # fmt: skip
        return inbox

    def _ledger_key(self) -> LedgerKey:
        """The marketplace's signing key (``ledger.key``), made at the first start; its public
        half written beside it (``ledger.pub``) for ``logmarket ledger verify``."""
        path = self.settings.state_dir / "ledger.key"
        try:
            key = load_or_create_ledger_key(path)
        except ValueError as exc:
            raise StartupError(
                f"{exc}: restore it from a backup (every signature in the ledger was made with "
                "it); only for a store with no ledger yet, move it aside to make a new one"
            ) from exc
        except OSError as exc:
            raise StartupError(f"cannot read or create the ledger key {path}: {exc}") from exc
        try:
            write_public_key(key, path.with_name("ledger.pub"))
        except OSError as exc:
            raise StartupError(f"cannot write the ledger's public key: {exc}") from exc
        return key

    def _marketplace(
        self, store: Any, webhooks: WebhookDeliverer, ledger_key: LedgerKey
    ) -> Marketplace:
        """The marketplace: ledger, pricing, game, events; the admin token for its API."""
        s = self.settings
        configured = s.admin_token.get_secret_value() if s.admin_token else None
        self.admin_token, self.admin_token_generated = ensure_admin_token(s.state_dir, configured)
        ledger = Ledger(
            store,
            GameRules(s.points_per_dollar, s.quality_multiplier_enabled),
            daily_cap=s.daily_payout_cap,
            daily_budget=s.daily_market_budget,
            hold_seconds=s.settle_after,
            signer=ledger_key,
        )
        self._watch_events(webhooks)

        fleet = store is not self.store

        def published(events: list[Event]) -> None:
            """Committed events: to live listeners now, to the webhook as soon as it can.
            In a fleet the listeners get them from the shared outbox instead (every daemon's,
            once each: :meth:`_follow_outbox`)."""
            if not fleet:
                self.bus.publish(events)
            webhooks.wake()

        return Marketplace(store, ledger, s, published, metrics=self.metrics)

    async def _analyser(self, stack: Stack, store: Any, redactor: Redactor) -> Analyser:
        """The agents, with a model to enrich their findings when one is configured; the
        shipped rule packs and ``rules_dir``'s are loaded here, so a bad pack stops the start."""
        try:
            rules.use_dir(self.settings.rules_dir)
        except rules.RuleError as exc:
            raise StartupError(f"rule pack refused: {exc}") from exc
        enricher = None
        if self.settings.llm_provider != "rules":
            enricher = await self._enricher(stack, redactor)
        return Analyser(store, self.settings, redactor, enricher=enricher)

    async def _enricher(self, stack: Stack, redactor: Redactor) -> Enricher:
        """Model enrichment of the findings, with its answers cached in the state directory."""
        # Imported only when a model is configured: the SDKs cost seconds at startup.
        from logmarketd.analysis.llm.cache import SqliteCache
        from logmarketd.analysis.llm.config import LLMConfig
        from logmarketd.analysis.llm.enrich import build_enricher

        s = self.settings
        config = LLMConfig(
            provider=s.llm_provider, model=s.llm_model, base_url=s.llm_base_url,
            timeout=s.llm_timeout, max_concurrency=s.llm_max_concurrency,
            daily_token_budget=s.llm_daily_token_budget, discover=s.llm_discover,
            max_digest_chars=s.llm_max_digest_chars,
        )  # fmt: skip
        cache = await SqliteCache.open(s.state_dir / "llm-cache.db")
        stack.push_async_callback(cache.close)
        enricher = build_enricher(config, redactor=redactor, cache=cache)
        st = enricher.stats
        m = self.metrics
        m.watch("logmarket_llm_calls", "Model requests", "counter", lambda: st.calls)
        m.watch("logmarket_llm_tokens", "Model tokens spent", "counter", lambda: st.tokens)
        m.watch("logmarket_llm_cache_hits", "Enrichments served from the cache", "counter",
                lambda: st.cache_hits)  # fmt: skip
        m.watch("logmarket_llm_fallbacks", "Groups left to the rules, by reason", "counter",
                lambda: {k: float(v) for k, v in st.fallbacks.items()}, "reason")  # fmt: skip
        m.watch("logmarket_llm_discovered", "Findings a model reported that were kept (grounded)",
                "counter", lambda: st.discovered)  # fmt: skip
        m.watch("logmarket_llm_dropped", "Findings a model reported that were dropped, by reason",
                "counter", lambda: {k: float(v) for k, v in st.dropped.items()}, "reason")  # fmt: skip
        return enricher

    def _watch_events(self, hooks: WebhookDeliverer) -> None:
        bus, m = self.bus, self.metrics
        m.watch("logmarket_events_published", "Events handed to live listeners", "counter",
                lambda: bus.published)  # fmt: skip
        m.watch("logmarket_events_dropped", "Events slow live listeners lost", "counter",
                lambda: bus.dropped)  # fmt: skip
        m.watch("logmarket_webhook_deliveries", "Webhook events delivered", "counter",
                lambda: hooks.delivered)  # fmt: skip
        m.watch("logmarket_webhook_failures", "Webhook delivery attempts failed", "counter",
                lambda: hooks.failures)  # fmt: skip

    def _pipeline(
        self, stack: Stack, store: Store, inbox: InboxWriter, flow: Flow, redactor: Redactor
    ) -> Pipeline:
        s = self.settings
        pipeline = Pipeline(
            store, inbox, flow.window, metrics=self.metrics, redactor=redactor,
            max_records=s.window_max_records, window_seconds=s.window_seconds,
        )  # fmt: skip

        async def stop() -> None:
            pipeline.stop()  # open windows stay in the inbox: the next start picks them up

        self._supervised(stack, "pipeline", pipeline.run(), stop,
                         late="pipeline cancelled mid-window; it resumes from the inbox")  # fmt: skip
        return pipeline

    def _settlement(self, stack: Stack, market: Marketplace, shared: Any) -> None:
        """Held payouts settle into the balances when their hold is over: looked for every
        minute, or as often as the hold if it is shorter. In a fleet, by one daemon at a
        time: the one holding the store's settlement lock; the others skip their rounds."""
        stop = asyncio.Event()
        every = min(60.0, max(1.0, self.settings.settle_after))

        async def stopped() -> None:
            stop.set()

        job = market.run_settlement(stop, every, turn=self._fleet_turn(shared, "settlement"))
        self._supervised(stack, "settlement", job, stopped,
                         late="settlement cancelled mid-round; the next start goes on")  # fmt: skip

    def _fleet_turn(self, shared: Any, job: str) -> Callable[[], Awaitable[bool]] | None:
        """For a job that runs once per fleet: whether this daemon runs it now (it holds the
        shared store's lock for ``job``, taken when free); None with the embedded store."""
        if shared is self.store:
            return None
        return functools.partial(shared.hold_lock, job)

    def _retention(
        self, stack: Stack, store: Store, shared: Any, pipeline: Pipeline | None
    ) -> None:
        """Log text past ``retention_days`` taken out, now and hourly; the event outbox and
        the inbox rows the windows consumed are pruned with it. Undelivered events are kept
        while a webhook may still deliver them."""
        keep_undelivered = self.settings.webhook_url is not None

        async def events(conn: aiosqlite.Connection, before: float) -> int:
            return await prune_events(conn, before, keep_undelivered=keep_undelivered)

        also: dict[str, Prune] = {"events": events}
        if pipeline is not None:
            also["inbox"] = pipeline.prune_consumed
        shared_also: dict[str, Prune] = {}
        if shared is not store:  # the outbox is the fleet's; the inbox stays this daemon's
            shared_also["events"] = also.pop("events")
        job = Retention(store, days=self.settings.retention_days, also=also, shared=shared,
                        shared_also=shared_also, metrics=self.metrics,
                        shared_turn=self._fleet_turn(shared, "retention"))  # fmt: skip

        async def stop() -> None:
            job.stop()

        self._supervised(stack, "retention", job.run(), stop,
                         late="retention cancelled mid-batch; the next run goes on")  # fmt: skip

    def _health(self) -> tuple[str, str] | None:
        if self.failure is None and self.store_down is not None:
            return ("store", self.store_down)
        return self.failure

    def _api_app(
        self, store: Any, flow: Flow, outbox: OutboxReader | StoreOutboxReader
    ) -> web.Application:
        """The HTTP app: health, metrics and the marketplace API."""
        s = self.settings
        assert self.admin_token is not None
        app = make_app(self.metrics, max_body_bytes=s.max_body_bytes, health=self._health)
        add_routes(app, ApiContext(
            store, flow.market, flow.submit, self.admin_token,
            requests_per_minute=s.requests_per_minute, bus=self.bus, backlog=outbox.after,
        ))  # fmt: skip
        return app

    async def _serve_http(
        self, stack: Stack, address: tuple[str, int], store: Any, flow: Flow
    ) -> None:
        outbox: OutboxReader | StoreOutboxReader
        if store is self.store:
            outbox = await OutboxReader.open(self.settings.db_path)
        else:  # the fleet's outbox: every daemon's events
            outbox = StoreOutboxReader(store)
        stack.push_async_callback(outbox.close)
        app = self._api_app(store, flow, outbox)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        stack.callback(self.bus.close)  # live event streams end first, so the server can close
        site = web.TCPSite(runner, address[0], address[1], reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(f"cannot listen for HTTP on {self.settings.http}: {exc}") from exc
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        self.http_url = f"http://{host}:{address[1]}"

    async def _watch(self, stack: Stack) -> None:
        """The file watcher: it ships to our own socket through the same protocol and acks as
        any client, in a thread of its own (blocking I/O, watchdog's observer)."""
        s = self.settings
        try:
            watch = await asyncio.to_thread(
                start_watchers, s.watch, s.socket_path, s.state_dir,
                from_beginning=s.watch_from_beginning, rules=s.watch_rules,
                sub_pkp_id=s.watch_sub_pkp, poll=s.watch_poll,
                key=s.watch_key.get_secret_value() if s.watch_key else None,
            )  # fmt: skip
        except ValueError as exc:  # TailError: a bad path, glob or rule
            raise ConfigError(f"--watch: {exc}") from exc
        stack.push_async_callback(
            lambda: asyncio.to_thread(watch.stop, max(self._drain_time(), 1.0))
        )
        self._supervised(stack, "supervisor", self._supervise_threads(watch))


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _unlink_if_ours(path: Path, ino: int) -> None:
    """Remove the socket file we bound, not one a daemon started after us put there."""
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == ino:
            os.unlink(path)
