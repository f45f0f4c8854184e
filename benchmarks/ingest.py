"""Ingest throughput: N agent processes stream batches over real mutual TLS to one
collector process on SQLite; prints committed events/s and batch-ack latency.

Method: a fresh collector (``exwatch-collector serve``, mTLS) in its own process; N agent
processes (spawned, not forked) each enroll with a real token, then stream B batches of
E realistic file and log events over one Connect stream with up to W batches in flight,
timing each batch from send to acknowledgement (the collector acks only after the SQLite
commit). Throughput = all events / (last ack - first send). The collector's own CPU time
(psutil) over the run gives events per collector CPU-second: the figure that does not
depend on what else (the agents, other work) shares the cores. ``--profile FILE`` runs
py-spy on the collector for the run.

    python benchmarks/ingest.py [--agents 4] [--batches 100] [--events 500] [--profile F]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import psutil
from bench_collector import BenchCollectors
from bench_events import mixed_event

from agent import identity
from protos import exwatch_pb2 as pb
from protos import exwatch_pb2_grpc as pb_grpc


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
        batch.events.extend(mixed_event(i) for i in range(events))
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
    parser.add_argument(
        "--profile", type=Path, help="write a py-spy profile (raw) of the collector here"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="exwatch-ingest-"))
    with BenchCollectors(tmp, uses=args.agents) as collectors:
        endpoint = collectors.endpoints[0]
        collector = psutil.Process(endpoint.pid)
        ctx = mp.get_context("spawn")  # never fork after gRPC is loaded
        results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        procs = [
            ctx.Process(
                target=agent_process,
                args=(
                    endpoint.enroll,
                    str(collectors.ca),
                    collectors.token,
                    str(tmp / f"a{i}"),
                    args.batches,
                    args.events,
                    args.window,
                    results,
                ),
            )
            for i in range(args.agents)
        ]
        cpu_before = sum(collector.cpu_times()[:2])
        profiler = None
        if args.profile:
            profiler = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                 str(endpoint.pid), "--format", "raw", "--threads", "-o", str(args.profile)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=600) for _ in procs]
        cpu_used = sum(collector.cpu_times()[:2]) - cpu_before
        rss = collector.memory_info().rss
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            profiler.wait()
        for p in procs:
            p.join()

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
    # CPU seconds include enrollment and connection set-up (small next to the stream).
    print(
        f"collector: {cpu_used:.2f} CPU-s = {total / cpu_used:,.0f} events per CPU-second "
        f"({cpu_used / elapsed * 100:.0f} % of one core while streaming), RSS {rss / 2**20:.0f} MiB"
    )
    if args.profile:
        print(f"profile: {args.profile}")


if __name__ == "__main__":
    main()
