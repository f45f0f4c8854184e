"""The one gRPC stream to the collector: hello, welcome, then batches out and acks back.

Each session: send Hello; the collector's Welcome says the last sequence it committed;
drop what it has, resend batches already cut (same sequence, same content), then cut new
ones from the spool, keeping a bounded number in flight. Any end of the stream (collector
restart, network, load balancer) is a normal reconnect with jittered backoff.
"""

from __future__ import annotations

import ipaddress
import logging
import platform
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from agent import __version__, identity
from agent.errors import ConfigError
from agent.spool import Spool
from protos import exwatch_pb2 as pb
from protos import exwatch_pb2_grpc as pb_grpc

log = logging.getLogger("exwatch.agent.transport")

# Ping every 30 s even when idle so NAT and load balancers keep the stream; the collector
# permits pings down to 10 s, so this never trips too_many_pings.
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"expected HOST:PORT, got {address!r}", key="collector.address")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Identity:
    agent_id: str
    hostname: str


class _Outbox:
    """The request iterator gRPC consumes on its own thread; closing it half-closes the stream."""

    _CLOSE = object()

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()

    def put(self, message: pb.AgentMessage) -> None:
        self._queue.put(message)

    def close(self) -> None:
        self._queue.put(self._CLOSE)

    def __iter__(self) -> Iterator[pb.AgentMessage]:
        while True:
            item = self._queue.get()
            if item is self._CLOSE:
                return
            assert isinstance(item, pb.AgentMessage)
            yield item


class Transport:
    def __init__(
        self,
        address: str,
        spool: Spool,
        identity: Identity,
        *,
        rules_version: Callable[[], str],
        heartbeat: Callable[[], pb.Heartbeat],
        heartbeat_seconds: float = 30.0,
        batch_max_events: int = 500,
        batch_max_bytes: int = 512 * 1024,
        max_in_flight: int = 8,
        tls_dir: Path | None = None,
        on_command: Callable[[pb.Command], pb.CommandResult] | None = None,
        on_rules: Callable[[pb.RuleBundle], None] | None = None,
    ) -> None:
        """``tls_dir``: the agent data folder holding its enrolled identity (mutual TLS);
        None for plain gRPC, which only a loopback collector may be."""
        host, port = parse_address(address)
        if tls_dir is None and not is_loopback(host):
            raise ConfigError(
                f"plain gRPC to {host} refused: without TLS only a loopback collector is allowed",
                key="collector.address",
            )
        self.target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.tls_dir = tls_dir
        self.on_command = on_command
        self.on_rules = on_rules
        self._beat_now = threading.Event()
        self.spool = spool
        self.identity = identity
        self.rules_version = rules_version
        self.heartbeat = heartbeat
        self.heartbeat_seconds = heartbeat_seconds
        self.batch_max_events = batch_max_events
        self.batch_max_bytes = batch_max_bytes
        self.max_in_flight = max_in_flight
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._call: grpc.Call | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="exwatch-transport", daemon=True)
        self._thread.start()

    def heartbeat_now(self) -> None:
        """Report health at once (new rules are in force, say), not at the next beat."""
        self._beat_now.set()
        self.spool.notify()

    def stop(self) -> None:
        self._stop.set()
        self.spool.notify()
        with self._lock:
            if self._call is not None:
                self._call.cancel()
        if self._thread:
            self._thread.join()

    # ------------------------------------------------------------------ sessions

    def _run(self) -> None:
        backoff = BACKOFF_START
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._session()
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                if not self._stop.is_set():
                    log.warning("collector %s: %s (%s); retrying", self.target, detail, code)
            except Exception:
                log.exception("transport error; retrying")
            self.connected.clear()
            if self._stop.is_set():
                return
            if time.monotonic() - started > 10:
                backoff = BACKOFF_START  # the last session was healthy
            # Full jitter, so a fleet does not reconnect in lock-step after a collector restart.
            self._stop.wait(random.uniform(backoff / 2, backoff))
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _channel(self) -> tuple[grpc.Channel, identity.Enrollment | None]:
        if self.tls_dir is None:
            return grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS), None
        enrollment = identity.load(self.tls_dir)  # each session: picks up a renewed certificate
        if enrollment is None:
            raise identity.EnrollmentError("this agent is not enrolled")
        channel = grpc.secure_channel(
            self.target, enrollment.credentials(), options=CHANNEL_OPTIONS
        )
        return channel, enrollment

    def _session(self) -> None:
        channel, enrollment = self._channel()
        with channel:
            stub = pb_grpc.CollectorStub(channel)
            outbox = _Outbox()
            outbox.put(
                pb.AgentMessage(
                    hello=pb.Hello(
                        agent_id=self.identity.agent_id,
                        hostname=self.identity.hostname,
                        agent_version=__version__,
                        rules_version=self.rules_version(),
                        last_sequence=self.spool.last_sequence,
                        os=platform.platform(),
                    )
                )
            )
            call = stub.Connect(iter(outbox))
            with self._lock:
                self._call = call
            try:
                if self._stop.is_set():
                    return
                first = next(call)
                if first.WhichOneof("body") != "welcome":
                    log.error("collector did not start with a welcome; reconnecting")
                    return
                if enrollment is not None and enrollment.needs_renewal():
                    csr = identity.make_csr(enrollment.key_pem, self.identity.hostname)
                    outbox.put(pb.AgentMessage(renew=pb.RenewRequest(csr_pem=csr)))
                    log.info("certificate expires %s: asked for a new one", enrollment.not_after())
                self._stream(call, outbox, first.welcome)
            finally:
                outbox.close()
                call.cancel()
                with self._lock:
                    self._call = None

    def _run_command(self, command: pb.Command) -> pb.CommandResult:
        if self.on_command is None:
            return pb.CommandResult(
                command_id=command.id, ok=False, error="this agent takes no commands"
            )
        try:
            return self.on_command(command)
        except Exception as exc:  # a failing action must not end the stream
            log.exception("command %s failed", command.id)
            return pb.CommandResult(command_id=command.id, ok=False, error=str(exc))

    def _stream(
        self, call: grpc._CallIterator[pb.CollectorMessage], outbox: _Outbox, welcome: pb.Welcome
    ) -> None:
        committed = welcome.last_committed_sequence
        self.spool.acknowledge(committed)
        log.info(
            "connected to %s as %s (tenant %s); collector has up to batch %d",
            self.target,
            welcome.agent_id,
            welcome.tenant,
            committed,
        )
        self.connected.set()
        acked = [committed]
        ended = threading.Event()

        def read_acks() -> None:
            try:
                for message in call:
                    kind = message.WhichOneof("body")
                    if kind == "ack":
                        self.spool.acknowledge(message.ack.sequence)
                        acked[0] = max(acked[0], message.ack.sequence)
                    elif kind == "certificate" and self.tls_dir is not None:
                        identity.store_renewed(self.tls_dir, message.certificate.certificate_pem)
                        log.info("certificate renewed; used from the next connection")
                    elif kind == "command":
                        result = self._run_command(message.command)
                        outbox.put(pb.AgentMessage(command_result=result))
                    elif kind == "rule_bundle" and self.on_rules is not None:
                        # Loading rules takes a while: not on the thread that reads acks.
                        threading.Thread(
                            target=self.on_rules,
                            args=(message.rule_bundle,),
                            name="exwatch-rules",
                            daemon=True,
                        ).start()
            except grpc.RpcError as exc:
                if (
                    not self._stop.is_set()
                    and isinstance(exc, grpc.Call)
                    and (exc.code() != grpc.StatusCode.CANCELLED)
                ):
                    log.warning("stream ended: %s", exc.details())
            finally:
                ended.set()
                self.spool.notify()

        reader = threading.Thread(target=read_acks, name="exwatch-transport-acks", daemon=True)
        reader.start()
        try:
            resend = self.spool.unacknowledged(after=committed)
            sent = committed
            next_heartbeat = 0.0
            while not self._stop.is_set() and not ended.is_set():
                generation = self.spool.generation
                while sent - acked[0] < self.max_in_flight:
                    batch = (
                        resend.pop(0)
                        if resend
                        else self.spool.cut_batch(
                            max_events=self.batch_max_events, max_bytes=self.batch_max_bytes
                        )
                    )
                    if batch is None:
                        break
                    message = pb.AgentMessage(batch=pb.EventBatch(sequence=batch.sequence))
                    message.batch.events.extend(batch.events)
                    outbox.put(message)
                    sent = batch.sequence
                if time.monotonic() >= next_heartbeat or self._beat_now.is_set():
                    self._beat_now.clear()
                    outbox.put(pb.AgentMessage(heartbeat=self.heartbeat()))
                    next_heartbeat = time.monotonic() + self.heartbeat_seconds
                self.spool.wait(generation, timeout=0.5)
        finally:
            outbox.close()
            call.cancel()
            reader.join()
