"""Agent footprint: steady RSS and CPU of an agent watching a demo tree of 10,000 files and
50 quiet logs, then while IIS-style logs grow by 1,000 lines/s.

Method: a collector process (demo mode) and an agent process on a generated tree; after the
agent's start-up (baseline, first hunt) it samples the agent's RSS and CPU with psutil once
a second for ``--seconds`` idle, then for ``--seconds`` while a writer appends 1,000 benign
IIS lines per second (with one attack line a second) to one of the logs.

    python benchmarks/footprint.py [--files 10000] [--logs 50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import psutil
from demo_stack import DemoStack

HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\r\n"
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n"
)
BENIGN = (
    "2026-11-28 10:00:00 10.0.0.5 POST /owa/service.svc action=GetItem 443 "
    "CONTOSO\\u1 10.1.2.3 Mozilla/5.0 - 200 0 0 12\r\n"
)
ATTACK = (
    "2026-11-28 10:00:00 10.0.0.5 POST /aspnet_client/x.aspx - 443 - 203.0.113.9 "
    "Mozilla/5.0 - 200 0 0 12\r\n"
)


def sample(proc: psutil.Process, seconds: int, during: object = None) -> tuple[float, float]:
    proc.cpu_percent()
    rss, cpu = [], []
    for _ in range(seconds):
        if callable(during):
            during()
        time.sleep(1)
        cpu.append(proc.cpu_percent())
        rss.append(proc.memory_info().rss / 2**20)
    return statistics.median(rss), statistics.mean(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--logs", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="exwatch-footprint-"))
    root = tmp / "drive"
    web = root / "Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy/owa/auth"
    for i in range(args.files):
        folder = web / f"15.2.{i // 500}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"page{i}.js").write_text(f"// script {i}\n" * 20)
    logs = root / "inetpub/logs/LogFiles"
    for i in range(args.logs):
        (logs / f"W3SVC{i + 1}").mkdir(parents=True)
        (logs / f"W3SVC{i + 1}" / "u_ex261128.log").write_text(HEADER + BENIGN * 100, newline="")
    stack = DemoStack(tmp, root).__enter__()
    proc = psutil.Process(stack.agent.pid)
    try:
        time.sleep(20)  # baseline of the tree and the first hunt of the logs
        idle_rss, idle_cpu = sample(proc, args.seconds)
        busy_log = logs / "W3SVC1" / "u_ex261128.log"
        fh = busy_log.open("a", newline="")

        def write_second() -> None:
            fh.write(BENIGN * 999 + ATTACK)
            fh.flush()

        busy_rss, busy_cpu = sample(proc, args.seconds, write_second)
        fh.close()
    finally:
        stack.__exit__()
    print(
        f"method: agent process watching {args.files} files and {args.logs} IIS logs "
        f"(+ demo collector), sampled once a second with psutil; {os.cpu_count()} cores"
    )
    print(
        f"idle ({args.seconds} s): RSS median {idle_rss:.0f} MiB, CPU mean {idle_cpu:.1f} % "
        "of one core"
    )
    print(
        f"1,000 log lines/s ({args.seconds} s): RSS median {busy_rss:.0f} MiB, "
        f"CPU mean {busy_cpu:.1f} % of one core"
    )


if __name__ == "__main__":
    main()
