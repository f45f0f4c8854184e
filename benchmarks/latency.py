"""End-to-end alert latency: from a webshell's close on a host to the signed webhook
arriving at the on-call side.

Method: a collector process (with a webhook route to a receiver in this process), an agent
process watching a demo tree, both on loopback. N times: write a China Chopper page into
``aspnet_client``, wait for the webhook, record close → receipt; then resolve the incident
directly in the store (outside the measured path) so the next drop opens, and pages, anew.
Prints p50/p95/p99.

    python benchmarks/latency.py [--drops 200]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from demo_stack import DemoStack

SHELL = b'<%@ Page Language="Jscript"%><%eval(Request.Item["k"],"unsafe");%>'


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drops", type=int, default=200)
    args = parser.parse_args()
    arrived = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            arrived.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = Path(tempfile.mkdtemp(prefix="exwatch-latency-"))
    config = tmp / "collector.toml"
    config.write_text(
        '[[notify.routes]]\nchannel = "hook"\n[notify.channels.hook]\ntype = "webhook"\n'
        f'url = "http://127.0.0.1:{server.server_address[1]}/"\nsecret = "x"\n'
    )
    root = tmp / "drive"
    target = root / "inetpub/wwwroot/aspnet_client"
    target.mkdir(parents=True)
    stack = DemoStack(tmp, root, collector_args=("--config", str(config))).__enter__()
    time.sleep(4)
    db = sqlite3.connect(tmp / "c" / "exwatch.db", timeout=5)
    times: list[float] = []
    try:
        for i in range(args.drops):
            arrived.clear()
            with (target / f"s{i:04d}.aspx").open("wb") as fh:
                fh.write(SHELL + str(i).encode())
            closed = time.perf_counter()
            if arrived.wait(10):
                times.append(time.perf_counter() - closed)
            else:
                print(f"drop {i}: no page within 10 s", file=sys.stderr)
            with db:
                db.execute("UPDATE alerts SET status = 'resolved' WHERE status != 'resolved'")
            time.sleep(0.05)
    finally:
        stack.__exit__()
        server.shutdown()
    ms = sorted(t * 1000 for t in times)
    print(
        f"method: {args.drops} webshell drops, one at a time; agent + collector processes on "
        f"loopback, webhook receiver in the benchmark; {os.cpu_count()} cores"
    )
    print(
        f"close -> webhook received: p50 {statistics.median(ms):.0f} ms, "
        f"p95 {ms[int(len(ms) * 0.95)]:.0f} ms, "
        f"p99 {ms[min(len(ms) - 1, int(len(ms) * 0.99))]:.0f} ms "
        f"(n={len(ms)}, missed {args.drops - len(ms)})"
    )


if __name__ == "__main__":
    main()
