"""Collector processes with mutual TLS for benchmarks: a fresh CA (``exwatch-collector
init``), one enrollment token, and one or more ``serve`` processes sharing that data
folder (and so the CA and, on SQLite, the store file; with a DSN, the database, which
should be an empty one made for the run)."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

REPO = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+); enrollment on 127\.0\.0\.1:(\d+)")


def raise_open_files_limit(wanted: int) -> int:
    """Lift RLIMIT_NOFILE toward ``wanted`` (the hard limit too, where we may); returns
    the soft limit now in force. Thousands of TLS connections need a descriptor each."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass  # not privileged: the hard limit stays
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One running collector: its mutual-TLS port, its enrollment port, its process."""

    connect: str
    enroll: str
    pid: int


class BenchCollectors:
    """``with BenchCollectors(tmp, count=1, uses=N) as c:`` runs ``count`` collectors."""

    def __init__(
        self,
        tmp: Path,
        *,
        count: int = 1,
        uses: int = 1,
        dsn: str = "",
        ingest_workers: int | None = None,
    ) -> None:
        self.tmp = tmp
        self.ingest_workers = ingest_workers
        self.count = count
        self.uses = uses
        self.dsn = dsn
        self.data = tmp / "c"
        self.ca = self.data / "pki" / "ca.pem"
        self.token = ""
        self.endpoints: list[Endpoint] = []
        self._procs: list[subprocess.Popen[str]] = []
        self._log: IO[str] | None = None

    def _cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "collector", *args],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def __enter__(self) -> BenchCollectors:
        config: list[str] = []
        if self.dsn:
            path = self.tmp / "collector.toml"
            path.write_text(f'[store]\ndsn = "{self.dsn}"\n')
            config = ["--config", str(path)]
        if self.ingest_workers is not None:
            config += ["--ingest-workers", str(self.ingest_workers)]
        self._cli("init", "--data-dir", str(self.data))
        if self.dsn:
            # `token create` has no --config yet: make the token in the shared database.
            from collector.store import Store

            store = Store(self.dsn)
            try:
                now = time.time_ns()
                self.token = store.create_token(
                    "bench", uses=self.uses, expires_ns=now + 86_400 * 10**9, now_ns=now
                )
            finally:
                store.close()
        else:
            self.token = self._cli(
                "token", "create", "--tenant", "bench", "--uses", str(self.uses),
                "--data-dir", str(self.data),
            )  # fmt: skip
        self._log = (self.tmp / "collector.log").open("w")
        for _ in range(self.count):
            proc = subprocess.Popen(
                [sys.executable, "-m", "collector", "serve", *config,
                 "--listen", "127.0.0.1:0", "--enroll-listen", "127.0.0.1:0",
                 "--console-listen", "", "--data-dir", str(self.data)],
                cwd=REPO, stdout=subprocess.PIPE, stderr=self._log, text=True,
            )  # fmt: skip
            self._procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = _LISTENING.search(line)
            if found is None:
                self.__exit__()
                raise RuntimeError(f"a collector did not start; see {self.tmp / 'collector.log'}")
            self.endpoints.append(
                Endpoint(f"127.0.0.1:{found.group(1)}", f"127.0.0.1:{found.group(2)}", proc.pid)
            )
        self._settle()
        return self

    def _settle(self, timeout: float = 15.0) -> None:
        """Wait until the collectors' ingest workers, which start after the collector says
        it listens, have finished importing: their start-up is not ingest's CPU."""
        deadline = time.monotonic() + timeout
        before = -1.0
        while time.monotonic() < deadline:
            used = sum(cpu_seconds(family) for family in self.processes())
            if used - before < 0.02:
                return
            before = used
            time.sleep(0.25)

    def processes(self) -> list[list[psutil.Process]]:
        """Each collector's processes: the one serving gRPC first, then its children (the
        ingest workers and multiprocessing's resource tracker), started with it."""
        fronts = [psutil.Process(e.pid) for e in self.endpoints]
        return [[front, *front.children()] for front in fronts]

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            proc.wait()
        if self._log is not None:
            self._log.close()


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User and system CPU time of ``processes``, summed."""
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def rss_bytes(processes: list[psutil.Process]) -> int:
    return sum(p.memory_info().rss for p in processes)
