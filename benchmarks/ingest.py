"""Ingest throughput: N agent processes stream batches over real mutual TLS to one
collector on SQLite; prints committed events/s and batch-ack latency.

Method: a fresh collector (``exwatch-collector serve``, mTLS, with its ingest workers:
``--ingest-workers``, default the collector's own) in processes of its own; N agent
processes (spawned, not forked) each enroll with a real token, then stream B batches of
E realistic file and log events over one Connect stream with up to W batches in flight,
timing each batch from send to acknowledgement (the collector acks only after the SQLite
commit). Throughput = all events / (last ack - first send). The collector's CPU time (all
its processes, psutil) over the run gives events per collector CPU-second: the figure
that does not depend on what else (the agents, other work) shares the cores; the agents'
own CPU while streaming is printed too. ``--profile FILE`` runs py-spy on the collector's
gRPC process for the run.

    python benchmarks/ingest.py [--agents 4] [--batches 100] [--events 500]
        [--ingest-workers N] [--profile F]
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
from bench_collector import BenchCollectors, cpu_seconds, rss_bytes
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
        cpu_start = time.process_time()

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
        cpu = time.process_time() - cpu_start
        outq.put(None)
        call.cancel()
    results.put((start, end, latencies, time.time() - (time.perf_counter() - start), cpu))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument(
        "--ingest-workers",
        type=int,
        help="the collector's ingest worker processes (default: the collector's own default)",
    )
    parser.add_argument(
        "--profile", type=Path, help="write a py-spy profile (raw) of the collector here"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="exwatch-ingest-"))
    with BenchCollectors(tmp, uses=args.agents, ingest_workers=args.ingest_workers) as collectors:
        endpoint = collectors.endpoints[0]
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
        # The collector and its ingest workers (started with it, alive for the whole run).
        family = collectors.processes()[0]
        cpu_before = [cpu_seconds([p]) for p in family]
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
        cpu_each = [cpu_seconds([p]) - b for p, b in zip(family, cpu_before, strict=True)]
        cpu_used = sum(cpu_each)
        rss = rss_bytes(family)
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
        f"window {args.window}, mTLS, one collector on SQLite (WAL; {len(family) - 1} child "
        f"processes: ingest workers, resource tracker), {os.cpu_count()} cores"
    )
    print(f"committed: {total} events in {elapsed:.2f} s = {total / elapsed:,.0f} events/s")
    print(f"batch ack latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    # CPU seconds include enrollment and connection set-up (small next to the stream).
    print(
        f"collector ({len(family)} processes): {cpu_used:.2f} CPU-s = "
        f"{total / cpu_used:,.0f} events per CPU-second ({cpu_used / elapsed * 100:.0f} % of "
        f"one core while streaming), RSS {rss / 2**20:.0f} MiB in all; CPU-s per process "
        f"(gRPC front, then its children): {', '.join(f'{c:.2f}' for c in cpu_each)}"
    )
    agents_cpu = sum(o[4] for o in outcomes)
    print(
        f"agents: {agents_cpu:.2f} CPU-s while streaming = "
        f"{agents_cpu / total * 1e6:.1f} us per event (they share the cores with the collector)"
    )
    if args.profile:
        print(f"profile: {args.profile}")


if __name__ == "__main__":
    main()
