"""Run the collector: the gRPC server on an asyncio loop, until asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

import grpc

from collector.config import CollectorConfig, is_loopback, parse_listen
from collector.console.app import create_app
from collector.console.server import ConsoleServer, start_console, stop_console
from collector.console.settings import ConsoleSettings
from collector.containment import COMMAND_KINDS as CONTAINMENT_KINDS
from collector.containment import build_command, collector_addresses
from collector.errors import ConfigError, StoreError
from collector.ingest import IngestService, add_to_server
from collector.ingest_workers import IngestWorker, WorkerSpec
from collector.notify.routes import Routes
from collector.notify.worker import NotifyWorker
from collector.pki import PKIPaths
from collector.store import Store, open_database
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.collector")

# Agents ping every 30 s; accept pings down to 10 s so a client never trips too_many_pings.
SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
]
REVOCATION_POLL_SECONDS = 1.0
COMMAND_POLL_SECONDS = 0.5


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class CollectorServer:
    """The collector's network face and its store; start() returns the bound Connect port."""

    def __init__(self, config: CollectorConfig) -> None:
        self.host, self._port = parse_listen(config.listen)
        self.enroll_host, self._enroll_port = parse_listen(config.enroll_listen, "enroll_listen")
        self.pki: PKIPaths | None = None
        if config.insecure_loopback:
            if not is_loopback(self.host):
                raise ConfigError(
                    f"refusing to listen on {self.host} without TLS: plain gRPC is loopback only",
                    key="listen",
                )
        else:
            self.pki = PKIPaths(config.pki_path)
            if not self.pki.exists():
                raise ConfigError(
                    f"no TLS material in {config.pki_path}: run 'exwatch-collector init' first "
                    "(or pass --insecure-loopback for a local demo)",
                    key="pki_dir",
                )
        self.config = config
        self.routes = Routes.from_config(config.notify or None)
        database = open_database(config.store_target, max_connections=config.store.max_connections)
        self.store = Store(database, checkpoints="background", routes=self.routes)
        self.notifier = NotifyWorker(config.store_target, self.routes)
        spec = WorkerSpec(
            store_target=config.store_target,
            max_connections=config.store.max_connections,
            max_batch_events=config.max_batch_events,
            notify=config.notify,
            log_level=logging.getLogger().getEffectiveLevel(),
        )
        self.ingest = IngestService(
            self.store,
            max_batch_events=config.max_batch_events,
            pki=self.pki,
            agent_cert_days=config.agent_cert_days,
            workers=[
                IngestWorker(spec, f"exwatch-ingest-{i + 1}") for i in range(config.ingest_workers)
            ],
        )
        self.ingest.on_alerts = self.notifier.wake
        self._server: grpc.aio.Server | None = None
        self._console: ConsoleServer | None = None
        self._bundles: dict[str, pb.RuleBundle] = {}
        self.console_port = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.enroll_port = 0

    def _bind(
        self, server: grpc.aio.Server, address: str, creds: grpc.ServerCredentials | None
    ) -> int:
        try:
            port = (
                server.add_secure_port(address, creds)
                if creds
                else server.add_insecure_port(address)
            )
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {address}: {exc}", key="listen") from exc
        return port

    async def start(self) -> int:
        server = grpc.aio.server(
            options=[
                *SERVER_OPTIONS,
                ("grpc.max_receive_message_length", self.config.max_message_bytes),
            ]
        )
        add_to_server(self.ingest, server)
        address = _address(self.host, self._port)
        if self.pki is None:
            port = self._bind(server, address, None)
            mode = "plain gRPC, loopback demo"
        else:
            key = self.pki.server_key.read_bytes()
            chain = self.pki.server_cert.read_bytes()
            ca = self.pki.ca_cert.read_bytes()
            mutual = grpc.ssl_server_credentials(
                [(key, chain)], root_certificates=ca, require_client_auth=True
            )
            server_only = grpc.ssl_server_credentials([(key, chain)])
            port = self._bind(server, address, mutual)
            self.enroll_port = self._bind(
                server, _address(self.enroll_host, self._enroll_port), server_only
            )
            mode = f"mutual TLS; enrollment on port {self.enroll_port}"
        self.ingest.connect_port = port
        await self.ingest.start()
        await self.notifier.start()
        await server.start()
        self._server = server
        if self.pki is not None:
            self._tasks.append(asyncio.create_task(self._watch_revocations()))
        if self.config.console_listen:
            host, port_ = parse_listen(self.config.console_listen, "console_listen")
            app = create_app(
                ConsoleSettings(
                    db_path=self.config.store_target,
                    secure_cookies=self.config.secure_cookies,
                    offline_after_seconds=self.config.offline_after_seconds,
                ),
                self.store,
            )
            try:
                self._console, self.console_port = await start_console(app, host, port_)
            except OSError as exc:
                raise ConfigError(f"cannot serve the console: {exc}", key="console_listen") from exc
        self._tasks.append(asyncio.create_task(self._watch_silence()))
        if self.config.retention.events_days or self.config.retention.tenants:
            self._tasks.append(asyncio.create_task(self._prune_events()))
        self._tasks.append(asyncio.create_task(self._deliver_commands()))
        log.info(
            "collector listening on %s:%d (%s), store %s",
            self.host,
            port,
            mode,
            self.store.database,  # a DSN is shown without its password
        )
        return port

    async def _watch_revocations(self) -> None:
        """Revocations are written by the CLI, another process: close those streams at once."""
        since = time.time_ns()
        while True:
            await asyncio.sleep(REVOCATION_POLL_SECONDS)
            now = time.time_ns()
            for agent_id in await asyncio.to_thread(self.store.revoked_since, since):
                if self.ingest.cut_off(agent_id):
                    log.warning("agent %s revoked: stream closed", agent_id)
            since = now - int(REVOCATION_POLL_SECONDS * 1e9)  # overlap: a late commit is not missed

    async def _deliver_commands(self) -> None:
        """Commands and rule bundles are set by the CLI or the console (maybe another
        process): pass each to its agent's open stream within a second."""
        while True:
            await asyncio.sleep(COMMAND_POLL_SECONDS)
            await self._refresh_bundles()
            if self._bundles and (sent := self.ingest.push_rules(self._bundles)):
                log.info("rule bundles sent to %d agents", sent)
            connected = self.ingest.connected()
            for row in await asyncio.to_thread(
                self.store.take_commands, connected, now_ns=time.time_ns()
            ):
                command = pb.Command(id=row["id"])
                if row["kind"] in CONTAINMENT_KINDS:
                    own = collector_addresses(self.config.listen)  # always allowed in isolation
                    command = build_command(row["id"], row["kind"], row["argument"], collector=own)
                elif row["kind"] == "quarantine":
                    command.quarantine.path = row["argument"]
                elif row["kind"] == "restore":
                    command.restore.vault_id = row["argument"]
                elif row["kind"] == "collect":
                    command.collect_file.path = row["argument"]
                else:
                    command.rescan.SetInParent()
                if not self.ingest.deliver(row["agent_id"], command):
                    await asyncio.to_thread(self.store.requeue_command, row["id"])

    async def _refresh_bundles(self) -> None:
        """Load a scope's bundle only when its version changed."""
        versions = await asyncio.to_thread(self.store.rule_bundle_versions)
        for scope, version in versions.items():
            cached = self._bundles.get(scope)
            if cached is None or cached.version != version:
                bundle = await asyncio.to_thread(self.store.rule_bundle, scope)
                if bundle is not None:
                    self._bundles[scope] = bundle

    async def _watch_silence(self) -> None:
        """Hosts that stopped reporting (agent stopped, host down, network cut) get an
        alert; it resolves itself when the host is heard from again."""
        limit_ns = self.config.offline_after_seconds * 10**9
        while True:
            await asyncio.sleep(min(self.config.offline_after_seconds / 6, 30))
            for hostname in await asyncio.to_thread(
                self.store.mark_offline,
                older_than_ns=time.time_ns() - limit_ns,
                now_ns=time.time_ns(),
            ):
                log.warning("host %s stopped reporting", hostname)

    async def _prune_events(self) -> None:
        """Retention: delete expired events in small batches, each its own short
        transaction on a worker thread, so ingest waits at most one batch."""
        retention = self.config.retention
        while True:
            await asyncio.sleep(retention.interval_seconds)
            try:
                deleted = 0
                while True:
                    tenants = await asyncio.to_thread(self.store.tenants)
                    cutoffs = retention.cutoffs_ns(tenants, time.time_ns())
                    batch = await asyncio.to_thread(
                        self.store.prune_events,
                        cutoffs,
                        limit=retention.batch_size,
                        keep_evidence=retention.keep_alert_evidence,
                    )
                    deleted += batch
                    if batch < retention.batch_size:
                        break
                    await asyncio.sleep(0)  # let waiting commits in between batches
                if deleted:
                    log.info("retention: %d expired events deleted", deleted)
            except StoreError as exc:
                log.error("retention: %s (trying again in %.0f s)", exc, retention.interval_seconds)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._console is not None:
            await stop_console(self._console)
        if self._server is not None:
            await self._server.stop(grace=2)
        await self.ingest.aclose()
        await self.notifier.stop()
        self.store.close()


async def serve(config: CollectorConfig, *, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop``)."""
    server = CollectorServer(config)
    try:
        port = await server.start()
        extra = f"; enrollment on {server.enroll_host}:{server.enroll_port}" if server.pki else ""
        if server.console_port:
            host = parse_listen(config.console_listen, "console_listen")[0]
            extra += f"; console on http://{host}:{server.console_port}"
        print(f"exwatch-collector: listening on {server.host}:{port}{extra}", flush=True)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not available on Windows, nor off the main thread.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        log.info("collector stopping")
        await server.stop()
