"""Start real collector and agent processes for end-to-end tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import REPO


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Proc:
    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._fh = log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.popen = subprocess.Popen(
            [sys.executable, *args], cwd=REPO, stdout=self._fh, stderr=subprocess.STDOUT, env=env
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._fh.close()
        return self.popen.returncode


class Collector(Proc):
    def __init__(self, data_dir: Path, port: int = 0, extra: list[str] | None = None) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        super().__init__(
            [
                "-m",
                "collector",
                "serve",
                "--insecure-loopback",
                "--console-listen",
                "127.0.0.1:0",
                "--listen",
                f"127.0.0.1:{port}",
                "--data-dir",
                str(data_dir),
                *(extra or []),
            ],
            data_dir / "collector.log",
        )
        found = wait_for(
            lambda: re.findall(r"listening on 127\.0\.0\.1:(\d+)", self.output()),
            what="collector to listen",
        )
        self.port = int(found[-1])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "collector", *args, "--data-dir", str(self.data_dir)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )

    def alerts(self) -> list[dict[str, Any]]:
        return list(json.loads(self.cli("alerts", "--format", "json").stdout))

    def event_ids(self) -> list[str]:
        import sqlite3

        with sqlite3.connect(self.data_dir / "exwatch.db") as conn:
            return [r[0] for r in conn.execute("SELECT uid FROM events")]


class AgentProc(Proc):
    def __init__(
        self, root: Path, data_dir: Path, collector: str, extra: list[str] | None = None
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            [
                "-m",
                "agent",
                "run",
                "--root",
                str(root),
                "--data-dir",
                str(data_dir),
                "--collector",
                collector,
                "--insecure-loopback",
                *(extra or []),
            ],
            data_dir / "agent.log",
        )
        wait_for(
            lambda: "connected to" in self.output() or self.popen.poll() is not None,
            what="agent to connect",
        )
