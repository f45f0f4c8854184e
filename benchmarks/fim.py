"""File-integrity latency: from a page's close in a watched web root to its evidence row in
the collector's store, next to ``inotifywait`` on the same folder as the floor.

Method: a collector process and an agent process (loopback, plain gRPC demo mode) watch a
demo tree; the script writes N small pages one at a time into ``aspnet_client`` (pausing
between writes so each is its own event, as an attacker's drop is), and for each one polls
the store every 2 ms until the event that carries its path is committed (the same
transaction that raises the alert). In the same run, ``inotifywait -m -e close_write`` on the
same folder timestamps each close: that is what the OS itself needs. Prints p50/p95/p99 of
both, and the ratio.

    python benchmarks/fim.py [--files 300]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from demo_stack import DemoStack


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between writes")
    args = parser.parse_args()
    if not shutil.which("inotifywait"):
        sys.exit("inotifywait not found: apt-get install inotify-tools")

    tmp = Path(tempfile.mkdtemp(prefix="exwatch-fim-"))
    root = tmp / "drive"
    target = root / "inetpub/wwwroot/aspnet_client"
    target.mkdir(parents=True)
    stack = DemoStack(tmp, root).__enter__()
    inotify = subprocess.Popen(
        ["inotifywait", "-m", "-q", "-e", "close_write", "--format", "%f", str(target)],
        stdout=subprocess.PIPE,
        text=True,
    )
    seen_by_os: dict[str, float] = {}

    def read_inotify() -> None:
        assert inotify.stdout
        for line in inotify.stdout:
            seen_by_os.setdefault(line.strip(), time.perf_counter())

    reader = threading.Thread(target=read_inotify, daemon=True)
    reader.start()
    time.sleep(4)  # the agent's baseline and connection
    db = sqlite3.connect(tmp / "c" / "exwatch.db", timeout=5)
    ours: list[float] = []
    floor: list[float] = []
    try:
        for i in range(args.files):
            name = f"p{i:05d}.aspx"
            with (target / name).open("w") as fh:
                fh.write(f'<%@ Page Language="C#" %><html>page {i}</html>\n')
            closed = time.perf_counter()
            suffix = os.sep + name
            deadline = closed + 10
            while time.perf_counter() < deadline:
                row = db.execute(
                    "SELECT 1 FROM events WHERE kind = 'file' AND subject LIKE ?", (f"%{suffix}",)
                ).fetchone()
                if row:
                    ours.append(time.perf_counter() - closed)
                    break
                time.sleep(0.002)
            else:
                print(f"{name}: not in the store after 10 s", file=sys.stderr)
            if name in seen_by_os:
                floor.append(seen_by_os[name] - closed)
            time.sleep(args.gap)
    finally:
        inotify.terminate()
        inotify.wait()
        stack.__exit__()
        db.close()
    ms = [x * 1000 for x in ours]
    fl = [max(x, 0) * 1000 for x in floor]
    print(
        f"method: {args.files} pages written one by one ({args.gap * 1000:.0f} ms apart) into a "
        f"watched web root; agent and collector processes on loopback; {os.cpu_count()} cores"
    )
    print(
        f"exwatch  close -> committed evidence row: p50 {statistics.median(ms):.1f} ms, "
        f"p95 {percentile(ms, 0.95):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms "
        f"(n={len(ms)}, missed {args.files - len(ms)})"
    )
    print(
        f"inotifywait close -> event line (floor): p50 {statistics.median(fl):.2f} ms, "
        f"p95 {percentile(fl, 0.95):.2f} ms, p99 {percentile(fl, 0.99):.2f} ms (n={len(fl)})"
    )
    print(
        "ratio p50 exwatch / inotifywait: "
        f"{statistics.median(ms) / max(statistics.median(fl), 1e-3):.0f}x"
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
