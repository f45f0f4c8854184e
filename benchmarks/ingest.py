"""Ingest throughput: N agent processes stream batches over real mutual TLS to one
collector process on SQLite; prints committed events/s and batch-ack latency.

Method: a fresh collector (``exwatch-collector serve``, mTLS) in its own process; N agent
processes (spawned, not forked) each enroll with a real token, then stream B batches of
E realistic file and log events over one Connect stream with up to W batches in flight,
timing each batch from send to acknowledgement (the collector acks only after the SQLite
commit). Throughput = all events / (last ack - first send).

    python benchmarks/ingest.py [--agents 4] [--batches 100] [--events 500]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import grpc

from agent import identity
from protos import exwatch_pb2 as pb
from protos import exwatch_pb2_grpc as pb_grpc

REPO = Path(__file__).resolve().parent.parent


OWA_AUTH = r"C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\auth"


def make_event(i: int) -> pb.Event:
    e = pb.Event(id=uuid.uuid4().hex, host_time_ns=time.time_ns())
    if i % 10 == 0:
        e.file.CopyFrom(
            pb.FileEvent(
                action=pb.FILE_ACTION_MODIFIED,
                root_kind="webroot",
                path=OWA_AUTH + rf"\{i}.js",
                sha256=uuid.uuid4().hex * 2,
                size=1234,
                mtime_ns=time.time_ns(),
            )
        )
    else:
        e.log.CopyFrom(
            pb.LogRecordEvent(
                source="iis",
                file=r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex261128.log",
                line=i,
                fields={
                    "cs-method": "POST",
                    "cs-uri-stem": "/owa/service.svc",
                    "cs-uri-query": "action=GetItem",
                    "c-ip": f"10.0.{i % 250}.{i % 200}",
                    "sc-status": "200",
                    "cs(User-Agent)": "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)",
                },
            )
        )
    return e


def agent_process(
    enroll_addr: str,
    ca: str,
    token: str,
    workdir: str,
    batches: int,
    events: int,
    window: int,
    results: mp.Queue,
) -> None:  # type: ignore[type-arg]
    data = Path(workdir)
    enrollment = identity.enroll(enroll_addr, token, Path(ca), data, f"bench-{os.getpid()}")
    prepared = []
    for b in range(1, batches + 1):
        batch = pb.EventBatch(sequence=b)
        batch.events.extend(make_event(i) for i in range(events))
        prepared.append(pb.AgentMessage(batch=batch))
    outq: queue.Queue[pb.AgentMessage | None] = queue.Queue()
    sent: dict[int, float] = {}
    latencies: list[float] = []
    slots = threading.Semaphore(window)

    def requests():
        while (m := outq.get()) is not None:
            yield m

    with grpc.secure_channel(enrollment.collector, enrollment.credentials()) as channel:
        call = pb_grpc.CollectorStub(channel).Connect(requests())
        outq.put(pb.AgentMessage(hello=pb.Hello(agent_id=enrollment.agent_id, hostname="bench")))
        next(call)  # welcome
        start = time.perf_counter()

        def reader() -> None:
            for reply in call:
                if reply.WhichOneof("body") == "ack":
                    latencies.append(time.perf_counter() - sent[reply.ack.sequence])
                    slots.release()
                    if reply.ack.sequence == batches:
                        return

        t = threading.Thread(target=reader)
        t.start()
        for message in prepared:
            slots.acquire()
            sent[message.batch.sequence] = time.perf_counter()
            outq.put(message)
        t.join()
        end = time.perf_counter()
        outq.put(None)
        call.cancel()
    results.put((start, end, latencies, time.time() - (time.perf_counter() - start)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--window", type=int, default=8)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="exwatch-ingest-"))
    py = sys.executable
    subprocess.run(
        [py, "-m", "collector", "init", "--data-dir", str(tmp / "c")],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    token = subprocess.run(
        [
            py,
            "-m",
            "collector",
            "token",
            "create",
            "--tenant",
            "bench",
            "--uses",
            str(args.agents),
            "--data-dir",
            str(tmp / "c"),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    log = (tmp / "collector.log").open("w")
    collector = subprocess.Popen(
        [
            py,
            "-m",
            "collector",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--console-listen",
            "",
            "--enroll-listen",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp / "c"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert collector.stdout
    line = collector.stdout.readline()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+); enrollment on 127\.0\.0\.1:(\d+)", line)
    assert m, line
    enroll_addr = f"127.0.0.1:{m.group(2)}"
    ca = str(tmp / "c" / "pki" / "ca.pem")

    ctx = mp.get_context("spawn")  # never fork after gRPC is loaded
    results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [
        ctx.Process(
            target=agent_process,
            args=(
                enroll_addr,
                ca,
                token,
                str(tmp / f"a{i}"),
                args.batches,
                args.events,
                args.window,
                results,
            ),
        )
        for i in range(args.agents)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    collector.terminate()
    collector.wait()

    # Each process reports perf_counter times; align them with the wall-clock offset it sent.
    starts = [o[3] + o[0] for o in outcomes]
    ends = [o[3] + o[1] for o in outcomes]
    total = args.agents * args.batches * args.events
    elapsed = max(ends) - min(starts)
    lat = sorted(x for o in outcomes for x in o[2])
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    print(
        f"method: {args.agents} agent processes x {args.batches} batches x {args.events} events, "
        f"window {args.window}, mTLS, one collector process on SQLite (WAL), {os.cpu_count()} cores"
    )
    print(f"committed: {total} events in {elapsed:.2f} s = {total / elapsed:,.0f} events/s")
    print(f"batch ack latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
