"""Run a real collector (gRPC on loopback, SQLite file) inside the test process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collector.config import CollectorConfig
from collector.server import CollectorServer


class RunningCollector:
    def __init__(
        self, data_dir: Path, port: int = 0, *, tls: bool = False, ingest_workers: int = 2
    ) -> None:
        self.config = CollectorConfig(
            listen=f"127.0.0.1:{port}",
            enroll_listen="127.0.0.1:0",
            console_listen="",
            data_dir=data_dir,
            insecure_loopback=not tls,
            ingest_workers=ingest_workers,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-collector-loop")
        self._thread.start()
        self.server = CollectorServer(self.config)
        self.port = asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@contextmanager
def running_collector(
    data_dir: Path, port: int = 0, *, tls: bool = False, ingest_workers: int = 2
) -> Iterator[RunningCollector]:
    """``ingest_workers``: 2 commits batches in worker processes, 0 in this process."""
    collector = RunningCollector(data_dir, port, tls=tls, ingest_workers=ingest_workers)
    try:
        yield collector
    finally:
        collector.stop()
