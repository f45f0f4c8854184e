"""Fleet simulator: thousands of agents speaking the real protocol to one or more collectors;
prints connected agents, committed events/s, ingest latency, collector CPU and RSS.

Method: fresh collector process(es) with their CA (``exwatch-collector init``) sharing one
data folder (SQLite) or one database (``--dsn``). A few simulator processes (spawned)
each run many agents on one asyncio loop. Every agent makes its own EC P-256 key and CSR
and enrolls with the shared token (the real Enroll RPC; the agents of one process share
one server-authenticated channel for it), then opens its own channel (one TCP connection,
one mutual-TLS handshake with its own certificate) and the real Connect stream:
hello, welcome, then the mix below, in batches of at most 500 events (a lump of log lines
is split like the agent's spool does; the collector refuses batches over 5,000 events) with
at most 8 batches in flight like the agent. Agent i streams to collector i mod N. Ingest
latency is per batch, from the write to its Ack (the collector acks after the commit).
Measurement starts when every agent is connected plus a warm-up, and lasts ``--duration``
seconds; collector CPU is its user+system time over that window (psutil), RSS its largest
resident size.

Log records are made once per simulator process (500 distinct IIS records, serialised) and
each batch reuses those bytes with fresh event ids (time-ordered, as the agent makes them),
so that a saturating load (e.g. ``--agents 8 --log-lines-per-minute 600000
--log-flush-seconds 1``) costs the simulators, which share the cores with the collectors,
as little as possible.

Mix per agent (defaults): a heartbeat every 30 s; IIS log lines in lumps (HTTP.sys flushes
about once a minute) averaging 30 lines a minute; a clean web-root file change about
every 10 minutes; a burst (a retro-hunt or a log catching up) of 2,000 events in 500-event
batches, on average once a day per agent; across the fleet, attacks (a webshell drop with
a critical YARA match and its use) at 2 a minute, each opening an incident.

    python benchmarks/fleet.py [--agents 2000] [--duration 60] [--procs 2] [--collectors N]
                               [--dsn postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as StopEvent
from pathlib import Path
from typing import Any

import grpc
import psutil
from bench_collector import BenchCollectors, cpu_seconds, raise_open_files_limit, rss_bytes
from bench_events import attack_events, file_event, log_event

from agent import identity
from agent.events import new_event_id
from agent.transport import CHANNEL_OPTIONS
from protos import exwatch_pb2 as pb
from protos import exwatch_pb2_grpc as pb_grpc

MAX_IN_FLIGHT = 8
BURST_BATCH = 500
ENROLL_CONCURRENCY = 32
CONNECT_CONCURRENCY = 64
REPORT_SECONDS = 1.0
CONNECT_METHOD = "/exwatch.v1.Collector/Connect"
# A separate subchannel pool per channel: never let gRPC share one connection between agents.
AGENT_CHANNEL_OPTIONS = [*CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]


@dataclass(frozen=True, slots=True)
class Mix:
    heartbeat_seconds: float
    log_flush_seconds: float
    log_lines_per_minute: float
    file_events_per_hour: float
    bursts_per_day: float
    burst_events: int
    attacks_per_minute: float  # fleet-wide


@dataclass(slots=True)
class Stats:
    """What one simulator process saw since its last report."""

    enrolled: int = 0
    connected: int = 0
    refused: int = 0
    events: int = 0
    batches: int = 0
    heartbeats: int = 0
    attacks: int = 0
    latencies: list[float] = field(default_factory=list)

    def take(self) -> dict[str, Any]:
        report = {
            "events": self.events,
            "batches": self.batches,
            "heartbeats": self.heartbeats,
            "attacks": self.attacks,
            "latencies": self.latencies,
        }
        self.events = self.batches = self.heartbeats = self.attacks = 0
        self.latencies = []
        return report


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class LogBatches:
    """Serialised ``AgentMessage`` batches of log records, built from one serialised set of
    ``BURST_BATCH`` records by writing fresh event ids (the agent's UUID version 7) into
    it: about a microsecond per event instead of ~7 to build and serialise each record."""

    def __init__(self, size: int = BURST_BATCH) -> None:
        blob = bytearray()
        self.ends: list[int] = []
        self.id_offsets: list[int] = []
        events_tag = _varint(pb.EventBatch.DESCRIPTOR.fields_by_name["events"].number << 3 | 2)
        for i in range(size):
            event = log_event(i)
            event.id = f"{i:032x}"
            raw = event.SerializeToString()
            head = events_tag + _varint(len(raw))
            self.id_offsets.append(len(blob) + len(head) + raw.index(event.id.encode()))
            blob += head + raw
            self.ends.append(len(blob))
        self.blob = bytes(blob)
        self.batch_tag = _varint(pb.AgentMessage.DESCRIPTOR.fields_by_name["batch"].number << 3 | 2)

    def message(self, sequence: int, count: int) -> bytes:
        """An ``AgentMessage`` holding a batch of ``count`` (<= size) new log records."""
        body = bytearray(self.blob[: self.ends[count - 1]])
        for offset in self.id_offsets[:count]:
            body[offset : offset + 32] = new_event_id().encode()
        inner = pb.EventBatch(sequence=sequence).SerializeToString() + body
        return self.batch_tag + _varint(len(inner)) + inner


@dataclass(slots=True)
class SimAgent:
    index: int
    key_pem: bytes = b""
    cert_pem: bytes = b""
    agent_id: str = ""


class AgentSession:
    """One agent's Connect stream: sends its mix, times each batch to its ack."""

    def __init__(
        self, agent: SimAgent, target: str, ca_pem: bytes, stats: Stats, logs: LogBatches
    ) -> None:
        self.agent = agent
        self.stats = stats
        self.logs = logs
        creds = grpc.ssl_channel_credentials(ca_pem, agent.key_pem, agent.cert_pem)
        self.channel = grpc.aio.secure_channel(target, creds, options=AGENT_CHANNEL_OPTIONS)
        self.call: Any = None
        self.sequence = 0
        self.sent: dict[int, tuple[float, int]] = {}
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.line = 0

    async def connect(self) -> None:
        # Raw bytes out (the log batches are serialised already), messages in.
        self.call = self.channel.stream_stream(
            CONNECT_METHOD,
            request_serializer=None,
            response_deserializer=pb.CollectorMessage.FromString,
        )()
        await self.write(
            pb.AgentMessage(
                hello=pb.Hello(
                    agent_id=self.agent.agent_id,
                    hostname=f"exch{self.agent.index:05d}",
                    agent_version="fleet-sim",
                    os="Windows Server 2019 (simulated)",
                )
            )
        )
        welcome = await self.call.read()
        if welcome is grpc.aio.EOF or welcome.WhichOneof("body") != "welcome":
            raise RuntimeError(f"agent {self.agent.agent_id}: no welcome")
        self.sequence = welcome.welcome.last_committed_sequence

    async def read_acks(self) -> None:
        # read(), not "async for": the stream refuses a mix of the two, and connect() read.
        while (message := await self.call.read()) is not grpc.aio.EOF:
            if message.WhichOneof("body") != "ack":
                continue
            sent = self.sent.pop(message.ack.sequence, None)
            if sent is not None:
                self.stats.latencies.append(time.perf_counter() - sent[0])
                self.stats.events += sent[1]
                self.stats.batches += 1
                self.slots.release()

    async def write(self, message: pb.AgentMessage) -> None:
        await self.call.write(message.SerializeToString())

    async def send(self, events: list[pb.Event]) -> None:
        await self.slots.acquire()
        self.sequence += 1
        message = pb.AgentMessage(batch=pb.EventBatch(sequence=self.sequence))
        message.batch.events.extend(events)
        self.sent[self.sequence] = (time.perf_counter(), len(events))
        await self.write(message)

    async def send_log_lines(self, count: int) -> None:
        """``count`` log records in batches of at most ``BURST_BATCH``, each waiting for one
        of the ``MAX_IN_FLIGHT`` slots (back-pressure, as the agent's spool sees it)."""
        while count > 0:
            size = min(BURST_BATCH, count)
            count -= size
            await self.slots.acquire()
            self.sequence += 1
            self.line += size
            self.sent[self.sequence] = (time.perf_counter(), size)
            await self.call.write(self.logs.message(self.sequence, size))

    async def run(self, mix: Mix, attack_rate: float, stop: asyncio.Event) -> None:
        """Each kind of traffic on its own clock, all starting at a random phase."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = {
            "heartbeat": now + random.uniform(0, mix.heartbeat_seconds),
            "logs": now + random.uniform(0, mix.log_flush_seconds),
            "file": now + random.expovariate(mix.file_events_per_hour / 3600),
            "burst": now + random.expovariate(mix.bursts_per_day / 86400),
            "attack": now + (random.expovariate(attack_rate) if attack_rate else 1e12),
        }
        reader = asyncio.create_task(self.read_acks())
        try:
            while not stop.is_set():
                kind = min(due, key=due.__getitem__)
                delay = due[kind] - loop.time()
                if delay > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                        return
                    except TimeoutError:
                        pass
                now = loop.time()
                if kind == "heartbeat":
                    await self.write(
                        pb.AgentMessage(
                            heartbeat=pb.Heartbeat(
                                host_time_ns=time.time_ns(),
                                agent_cpu_percent=0.8,
                                agent_rss_bytes=90 << 20,
                                rules_version="fleet-sim",
                            )
                        )
                    )
                    self.stats.heartbeats += 1
                    due[kind] = now + mix.heartbeat_seconds
                elif kind == "logs":
                    mean = mix.log_lines_per_minute * mix.log_flush_seconds / 60
                    count = random.randint(0, int(2 * mean))
                    await self.send_log_lines(count)
                    due[kind] = now + mix.log_flush_seconds
                elif kind == "file":
                    await self.send([file_event(self.agent.index)])
                    due[kind] = now + random.expovariate(mix.file_events_per_hour / 3600)
                elif kind == "burst":
                    await self.send_log_lines(mix.burst_events)
                    due[kind] = now + random.expovariate(mix.bursts_per_day / 86400)
                else:
                    self.line += 1
                    await self.send(attack_events(self.line))
                    self.stats.attacks += 1
                    due[kind] = now + random.expovariate(attack_rate)
        finally:
            reader.cancel()


async def _enroll(
    agents: list[SimAgent], enroll_target: str, ca_pem: bytes, token: str, stats: Stats
) -> None:
    gate = asyncio.Semaphore(ENROLL_CONCURRENCY)
    creds = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    async with grpc.aio.secure_channel(enroll_target, creds) as channel:
        stub = pb_grpc.CollectorStub(channel)

        async def one(agent: SimAgent) -> None:
            async with gate:
                agent.key_pem = identity.new_key()  # EC P-256: quick for thousands
                hostname = f"exch{agent.index:05d}"
                reply = await stub.Enroll(
                    pb.EnrollRequest(
                        token=token,
                        csr_pem=identity.make_csr(agent.key_pem, hostname),
                        hostname=hostname,
                    ),
                    timeout=120,
                )
                agent.cert_pem = reply.certificate_pem
                agent.agent_id = reply.agent_id
                stats.enrolled += 1

        await asyncio.gather(*(one(a) for a in agents))


async def _simulate(
    indices: list[int],
    enroll_target: str,
    connect_targets: list[str],
    ca_pem: bytes,
    token: str,
    mix: Mix,
    attack_rate: float,
    reports: mp.Queue,  # type: ignore[type-arg]
    stop_flag: StopEvent,
) -> None:
    stats = Stats()
    stop = asyncio.Event()
    phase = ["enrolling"]

    async def report() -> None:
        while True:
            await asyncio.sleep(REPORT_SECONDS)
            reports.put(
                {
                    "pid": os.getpid(),
                    "time": time.time(),
                    "phase": phase[0],
                    "enrolled": stats.enrolled,
                    "connected": stats.connected,
                    "refused": stats.refused,
                    **stats.take(),
                }
            )
            if stop_flag.is_set():
                stop.set()

    reporter = asyncio.create_task(report())
    agents = [SimAgent(i) for i in indices]
    await _enroll(agents, enroll_target, ca_pem, token, stats)
    phase[0] = "connecting"
    logs = LogBatches()
    sessions = [
        AgentSession(a, connect_targets[a.index % len(connect_targets)], ca_pem, stats, logs)
        for a in agents
    ]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    runs: list[asyncio.Task[None]] = []

    async def connect(session: AgentSession) -> None:
        async with gate:
            try:
                await session.connect()
            except (grpc.RpcError, RuntimeError) as exc:
                stats.refused += 1
                print(f"fleet: {session.agent.agent_id}: {exc}", file=sys.stderr)
                return
        stats.connected += 1
        runs.append(asyncio.create_task(session.run(mix, attack_rate, stop)))

    await asyncio.gather(*(connect(s) for s in sessions))
    phase[0] = "running"
    await stop.wait()
    await asyncio.gather(*runs, return_exceptions=True)
    for session in sessions:
        await session.channel.close()
    reporter.cancel()
    reports.put({"pid": os.getpid(), "phase": "done"})


def simulator_process(
    indices: list[int],
    enroll_target: str,
    connect_targets: list[str],
    ca_pem: bytes,
    token: str,
    mix: Mix,
    attack_rate: float,
    reports: mp.Queue,  # type: ignore[type-arg]
    stop_flag: StopEvent,
) -> None:
    raise_open_files_limit(len(indices) + 1024)
    asyncio.run(
        _simulate(
            indices, enroll_target, connect_targets, ca_pem, token, mix, attack_rate,
            reports, stop_flag,
        )
    )  # fmt: skip


def _postgres_cpu() -> float:
    """User+system seconds of every local ``postgres`` process (server and backends)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        if proc.info["name"] == "postgres" and proc.info["cpu_times"] is not None:
            total += sum(proc.info["cpu_times"][:2])
    return total


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 2, help="simulators")
    parser.add_argument("--collectors", type=int, default=1, help="collector processes")
    parser.add_argument("--dsn", default="", help="PostgreSQL DSN (default: SQLite)")
    parser.add_argument(
        "--ingest-workers", type=int, help="per collector (default: the collector's own)"
    )
    parser.add_argument("--heartbeat-seconds", type=float, default=30.0)
    parser.add_argument("--log-flush-seconds", type=float, default=60.0)
    parser.add_argument("--log-lines-per-minute", type=float, default=30.0)
    parser.add_argument("--file-events-per-hour", type=float, default=6.0)
    parser.add_argument("--bursts-per-day", type=float, default=1.0)
    parser.add_argument("--burst-events", type=int, default=2000)
    parser.add_argument("--attacks-per-minute", type=float, default=2.0)
    args = parser.parse_args()
    if args.collectors < 1:
        parser.error("--collectors must be at least 1")
    mix = Mix(
        args.heartbeat_seconds,
        args.log_flush_seconds,
        args.log_lines_per_minute,
        args.file_events_per_hour,
        args.bursts_per_day,
        args.burst_events,
        args.attacks_per_minute,
    )
    # The collector inherits this limit: one descriptor per agent connection, and some.
    limit = raise_open_files_limit(args.agents + 1024)
    if limit < args.agents + 256:
        sys.exit(f"fleet: RLIMIT_NOFILE is {limit}; {args.agents} agents need more")
    tmp = Path(tempfile.mkdtemp(prefix="exwatch-fleet-"))
    started = time.perf_counter()
    with BenchCollectors(
        tmp,
        count=args.collectors,
        uses=args.agents,
        dsn=args.dsn,
        ingest_workers=args.ingest_workers,
    ) as collectors:
        procs_wanted = max(1, min(args.procs, args.agents))
        ctx = mp.get_context("spawn")  # never fork after gRPC is loaded
        reports: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        stop_flag = ctx.Event()
        # Per agent, per second: the fleet-wide rate spread over every agent.
        attack_rate = args.attacks_per_minute / 60 / args.agents
        procs = [
            ctx.Process(
                target=simulator_process,
                args=(
                    list(range(p, args.agents, procs_wanted)),
                    collectors.endpoints[0].enroll,
                    [e.connect for e in collectors.endpoints],
                    collectors.ca.read_bytes(),
                    collectors.token,
                    mix,
                    attack_rate,
                    reports,
                    stop_flag,
                ),
            )
            for p in range(procs_wanted)
        ]
        for p in procs:
            p.start()
        sim_pids = [p.pid for p in procs if p.pid is not None]
        watched = collectors.processes()
        latest: dict[int, dict[str, Any]] = {}
        enrolled_at = connected_at = measure_from = measure_to = 0.0
        events = batches = heartbeats = attacks = 0
        latencies: list[float] = []
        cpu_start: list[float] = []
        rss_max = [0] * len(watched)
        machine_cpu_start = psutil.cpu_times()
        sim_cpu_start = pg_cpu_start = pg_cpu = 0.0
        print(
            f"fleet: {args.agents} agents in {procs_wanted} simulator processes, "
            f"{args.collectors} collector(s), store {'PostgreSQL' if args.dsn else 'SQLite'}",
            flush=True,
        )
        last_print = 0.0
        while True:
            report = reports.get(timeout=600)
            if report["phase"] == "done":
                latest.pop(report["pid"], None)
                if not latest:
                    break
                continue
            latest[report["pid"]] = report
            now = time.time()
            enrolled = sum(r["enrolled"] for r in latest.values())
            connected = sum(r["connected"] for r in latest.values())
            refused = sum(r["refused"] for r in latest.values())
            if not enrolled_at and enrolled >= args.agents:
                enrolled_at = time.perf_counter()
            everyone = len(latest) == procs_wanted and connected + refused >= args.agents
            if not connected_at and everyone:
                connected_at = time.perf_counter()
                measure_from = now + args.warmup
                measure_to = measure_from + args.duration
            for i, family in enumerate(watched):
                rss_max[i] = max(rss_max[i], rss_bytes(family))
            if measure_from and now >= measure_from and not cpu_start:
                cpu_start = [cpu_seconds(family) for family in watched]
                machine_cpu_start = psutil.cpu_times()
                sim_cpu_start = sum(sum(psutil.Process(s).cpu_times()[:2]) for s in sim_pids)
                pg_cpu_start = _postgres_cpu() if args.dsn else 0.0
                rss_max = [rss_bytes(family) for family in watched]
            if cpu_start and measure_from <= report["time"] < measure_to:
                events += report["events"]
                batches += report["batches"]
                heartbeats += report["heartbeats"]
                attacks += report["attacks"]
                latencies.extend(report["latencies"])
            if now - last_print >= 5:
                last_print = now
                print(
                    f"  t={time.perf_counter() - started:5.0f}s enrolled {enrolled} "
                    f"connected {connected} refused {refused}",
                    flush=True,
                )
            if measure_to and now >= measure_to and not stop_flag.is_set():
                final = (connected, refused)
                cpu_end = [cpu_seconds(family) for family in watched]
                machine_cpu_end = psutil.cpu_times()
                sim_cpu = sum(sum(psutil.Process(s).cpu_times()[:2]) for s in sim_pids)
                pg_cpu = _postgres_cpu() if args.dsn else 0.0
                stop_flag.set()
        for p in procs:
            p.join()
        db_bytes = sum(f.stat().st_size for f in collectors.data.glob("exwatch.db*"))

    window = args.duration
    lat = sorted(latencies)
    busy = sum(machine_cpu_end[:3]) - sum(machine_cpu_start[:3])
    total = sum(machine_cpu_end[:8]) - sum(machine_cpu_start[:8])
    print(
        f"method: {args.agents} agents (real enrollment, one mutual-TLS channel and Connect "
        f"stream each) in {procs_wanted} simulator processes; {args.collectors} collector "
        f"process(es) on {'PostgreSQL' if args.dsn else 'SQLite (WAL)'}; {os.cpu_count()} cores "
        f"shared by all; {args.warmup:.0f} s warm-up, {window:.0f} s measured"
    )
    print(
        f"mix per agent: heartbeat every {mix.heartbeat_seconds:.0f} s, "
        f"{mix.log_lines_per_minute:.0f} log lines/min in lumps every "
        f"{mix.log_flush_seconds:.0f} s, {mix.file_events_per_hour:.0f} file events/h, "
        f"{mix.bursts_per_day:g} burst(s) of {mix.burst_events} events/day; "
        f"fleet: {mix.attacks_per_minute:g} attacks/min"
    )
    print(
        f"enrolled all in {enrolled_at - started:.1f} s (incl. collector start); "
        f"connected all in {connected_at - enrolled_at:.1f} s"
    )
    print(f"connected agents: {final[0]} (refused {final[1]})")
    print(
        f"committed: {events} events in {batches} batches = {events / window:,.0f} events/s, "
        f"{batches / window:,.0f} batches/s; heartbeats {heartbeats / window:,.0f}/s; "
        f"attacks {attacks}"
    )
    if lat:
        print(
            f"ingest latency (write -> ack): p50 {statistics.median(lat) * 1000:.1f} ms, "
            f"p99 {_percentile(lat, 0.99) * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms"
        )
    for i, endpoint in enumerate(collectors.endpoints):
        cpu = (cpu_end[i] - cpu_start[i]) / window
        print(
            f"collector {i + 1} ({endpoint.connect}, {len(watched[i])} processes): CPU "
            f"{cpu * 100:.0f} % of one core, RSS max {rss_max[i] / 2**20:.0f} MiB (together)"
        )
    print(
        f"simulators: CPU {(sim_cpu - sim_cpu_start) / window * 100:.0f} % of one core; "
        f"machine busy {busy / total * 100:.0f} % of {os.cpu_count()} cores"
        + (
            f"; PostgreSQL (all local postgres processes) CPU "
            f"{(pg_cpu - pg_cpu_start) / window * 100:.0f} % of one core"
            if args.dsn
            else f"; SQLite files {db_bytes / 2**20:.0f} MiB"
        )
    )


if __name__ == "__main__":
    main()
