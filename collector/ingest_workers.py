"""Ingest workers: processes of their own that commit agents' batches.

Parsing a batch, matching its events and building their rows is Python work; in the one
process that also serves gRPC it all queues on one GIL and the collector tops out at one
core. A worker opens the store itself and takes groups of raw batches over a pipe from
the front, which keeps the network. On SQLite the workers take turns on the file's writer
lock only for the inserts; the rest of their work runs side by side.

A worker that dies is replaced, and the group it held goes to the new one. A worker whose
front dies (a kill -9) reads the end of its pipe and exits."""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from collector.batches import BatchOutcome, commit_raw_batches
from collector.notify.routes import Routes
from collector.store import Store, open_database
from collector.store.base import AgentInfo

log = logging.getLogger("exwatch.collector.ingest")

Group = Sequence[tuple[AgentInfo, bytes]]


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker needs to open the store as the front did (sent to it pickled, over
    a pipe: a DSN's password never shows on a command line)."""

    store_target: Path | str
    max_connections: int
    max_batch_events: int
    notify: dict[str, Any] = field(default_factory=dict)
    log_level: int = logging.INFO


def _serve(spec: WorkerSpec, conn: Connection) -> None:
    """The worker process: commit each group it is sent and send back the outcomes."""
    # Ctrl-C reaches the whole process group; the front stops us by closing the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=spec.log_level, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    )
    database = open_database(spec.store_target, max_connections=spec.max_connections)
    store = Store(database, checkpoints="elsewhere", routes=Routes.from_config(spec.notify or None))
    try:
        while True:
            try:
                group, now_ns = conn.recv()
            except EOFError:  # the front closed the pipe, or died
                return
            outcomes = commit_raw_batches(
                store, group, now_ns=now_ns, max_events=spec.max_batch_events
            )
            try:
                conn.send(outcomes)
            except OSError:  # the front died while we committed; the agents resend
                return
    finally:
        store.close()


class IngestWorker:
    """The front's handle on one worker process. ``commit`` blocks: call it from one thread."""

    def __init__(self, spec: WorkerSpec, name: str) -> None:
        self.spec = spec
        self.name = name
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def start(self) -> None:
        # spawn, never fork: this process runs gRPC's threads.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(self.spec, theirs), name=self.name)
        process.daemon = True
        process.start()
        theirs.close()
        self._process, self._conn = process, ours

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def commit(self, group: Group, now_ns: int) -> list[BatchOutcome]:
        """Commit ``group`` in the worker. One that died is replaced and the group sent
        again (the store skips what a dead worker committed before it died: same sequence,
        same ids); if the new one dies on it too, the group fails and the agents resend."""
        for attempt in (1, 2):
            if self._conn is None:
                self.start()
            assert self._conn is not None
            try:
                self._conn.send((list(group), now_ns))
                outcomes: list[BatchOutcome] = self._conn.recv()
                return outcomes
            except (EOFError, OSError):
                process = self._process
                if process is not None:
                    process.join(timeout=5)
                log.error(
                    "ingest worker %s exited (code %s) holding %d batches; %s",
                    self.name,
                    process.exitcode if process is not None else None,
                    len(group),
                    "starting another" if attempt == 1 else "their agents will send them again",
                )
                self.close()
        return [BatchOutcome(0, error="the ingest worker stopped; send again")] * len(group)

    def close(self) -> int | None:
        """Close the pipe (the worker exits when it reads its end) and wait for it; one
        that does not exit within 10 s is killed. Returns its exit code (None: none ran)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is None:
            return None
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        code = self._process.exitcode
        self._process.close()
        self._process = None
        return code
