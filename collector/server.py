"""Run the collector: the gRPC server on an asyncio loop, until asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import grpc

from collector.config import CollectorConfig, is_loopback, parse_listen
from collector.errors import ConfigError
from collector.ingest import IngestService
from collector.store import SQLiteStore
from protos import exwatch_pb2_grpc as pb_grpc

log = logging.getLogger("exwatch.collector")

# Agents ping every 30 s; accept pings down to 10 s so a client never trips too_many_pings.
SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
]


class CollectorServer:
    """The collector's network face and its store; start() returns the bound port."""

    def __init__(self, config: CollectorConfig) -> None:
        host, self._port = parse_listen(config.listen)
        if not is_loopback(host):
            raise ConfigError(
                f"refusing to listen on {host} without TLS; plain gRPC is for loopback only",
                key="listen",
            )
        self.host = host
        self.config = config
        self.store = SQLiteStore(config.store_path)
        self.ingest = IngestService(self.store, max_batch_events=config.max_batch_events)
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        server = grpc.aio.server(
            options=[
                *SERVER_OPTIONS,
                ("grpc.max_receive_message_length", self.config.max_message_bytes),
            ]
        )
        pb_grpc.add_CollectorServicer_to_server(self.ingest, server)
        address = f"[{self.host}]:{self._port}" if ":" in self.host else f"{self.host}:{self._port}"
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {address}: {exc}", key="listen") from exc
        await server.start()
        self._server = server
        log.info(
            "collector listening on %s:%d (plain gRPC, loopback), store %s",
            self.host,
            bound,
            self.config.store_path,
        )
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=2)
        self.ingest.close()
        self.store.close()


async def serve(config: CollectorConfig, *, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop``)."""
    server = CollectorServer(config)
    try:
        port = await server.start()
        print(f"exwatch-collector: listening on {server.host}:{port}", flush=True)
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
