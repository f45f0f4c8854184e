"""A collector and an agent as real processes on loopback (demo mode), for benchmarks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent


class DemoStack:
    """``with DemoStack(tmp, root) as stack:`` runs both until the block ends."""

    def __init__(self, tmp: Path, root: Path, *, collector_args: tuple[str, ...] = ()) -> None:
        self.tmp, self.root = tmp, root
        self.collector_args = collector_args
        self.store = tmp / "c" / "exwatch.db"

    def __enter__(self) -> DemoStack:
        py = sys.executable
        self._log: IO[str] = (self.tmp / "procs.log").open("w")
        self.collector = subprocess.Popen(
            [py, "-m", "collector", "serve", "--insecure-loopback", "--console-listen", "",
             "--listen", "127.0.0.1:0", "--data-dir", str(self.tmp / "c"),
             *self.collector_args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=self._log, text=True,
        )  # fmt: skip
        assert self.collector.stdout
        port = re.search(r"127\.0\.0\.1:(\d+)", self.collector.stdout.readline())
        assert port, "the collector did not start; see procs.log"
        self.agent = subprocess.Popen(
            [py, "-m", "agent", "run", "--insecure-loopback", "--root", str(self.root),
             "--data-dir", str(self.tmp / "a"), "--collector", f"127.0.0.1:{port.group(1)}"],
            cwd=REPO, stdout=self._log, stderr=self._log,
        )  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in (self.agent, self.collector):
            proc.terminate()
        for proc in (self.agent, self.collector):
            proc.wait()
        self._log.close()
