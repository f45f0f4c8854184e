"""The gRPC service: agents enroll, connect, are identified by their certificate, and
stream batches that are committed before they are acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from collector.batches import BatchOutcome, RawBatch, commit_raw_batches, read_agent_message
from collector.errors import CollectorError, StoreError
from collector.ingest_workers import Group, IngestWorker
from collector.pki import PKIError, PKIPaths, fingerprint, sign_agent_csr
from collector.store.base import AgentInfo
from collector.store.store import Store
from protos import exwatch_pb2 as pb
from protos import exwatch_pb2_grpc as pb_grpc

log = logging.getLogger("exwatch.collector.ingest")

DEMO_TENANT = "default"
_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]
Incoming = pb.AgentMessage | RawBatch  # what Connect reads: a batch stays raw bytes


GROUP_MAX_BYTES = 8 * 2**20  # of raw batches committed in one transaction
# Batches a stream may have in the store's hands at once: reading the next while one
# commits keeps the lanes fed (with one, each stream waited for its ack before its next
# batch was even read) and bounds what one stream holds in memory.
READ_AHEAD = 4
# Objects allocated between young-generation collections (CPython's default is 700). Each
# open stream keeps a few tasks and futures alive for as long as it waits, so with
# thousands of streams the default has the cyclic collector promote and rescan them
# several times a second; measured with 10,000 agents, it took a quarter of the loop.
GC_YOUNG_THRESHOLD = 50_000
FLEET = "*"  # the rule bundle scope for every tenant without one of its own


def bundle_version(rules_version: str) -> str:
    """The pushed bundle an agent runs, from its rules version ("... bundle:<v>")."""
    for part in rules_version.split():
        if part.startswith("bundle:"):
            return part.removeprefix("bundle:")
    return ""


@dataclass(slots=True)
class _Waiting:
    agent: AgentInfo
    stream: _Stream
    data: bytes  # the raw EventBatch
    future: asyncio.Future[BatchOutcome]


@dataclass(slots=True, eq=False)
class _Lane:
    """Where batches are committed, a group at a time: the front's own writer thread, or
    an ingest worker process. A stream keeps one lane, so its batches commit in order."""

    commit: Callable[[Group, int], list[BatchOutcome]]  # blocking
    executor: ThreadPoolExecutor
    waiting: list[_Waiting] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    streams: int = 0


@dataclass(slots=True, eq=False)
class _Stream:
    """One open Connect stream: how to cut it off, and the commands waiting for it."""

    lane: _Lane
    revoked: asyncio.Event = field(default_factory=asyncio.Event)
    # A batch of this stream failed: the ones it sent after it must not commit (the agent
    # would then resend it only to hear it is a duplicate, and its events would be lost).
    broken: bool = False
    outgoing: asyncio.Queue[pb.CollectorMessage] = field(default_factory=asyncio.Queue)
    tenant: str = ""
    bundle_version: str = ""  # the rule bundle the agent runs (from its hello, then ours)


class _Refused(Exception):
    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class IngestService(pb_grpc.CollectorServicer):
    """One instance per server. Store calls run on one writer thread, off the event loop;
    batches are committed there too, or by ``workers`` (processes of their own), each
    stream's by the one with the fewest streams when it connected.

    With ``pki`` set, agents are identified by their client certificate alone; without it
    (the loopback demo) by the id in their hello, all in tenant ``default``.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_batch_events: int,
        pki: PKIPaths | None = None,
        connect_port: int = 0,
        agent_cert_days: int = 30,
        workers: Sequence[IngestWorker] = (),
    ) -> None:
        self.store = store
        self.max_batch_events = max_batch_events
        self.pki = pki
        self.connect_port = connect_port
        self.agent_cert_days = agent_cert_days
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exwatch-store")
        self._streams: dict[str, set[_Stream]] = {}
        self.workers = list(workers)
        self._lanes = [
            _Lane(w.commit, ThreadPoolExecutor(max_workers=1, thread_name_prefix=w.name))
            for w in self.workers
        ] or [_Lane(self._commit_here, self._writer)]
        # Heartbeats not yet written, the latest per agent: they are state, not events.
        self._beats: dict[str, tuple[AgentInfo, pb.Heartbeat, int]] = {}
        self._beat = asyncio.Event()  # a heartbeat waits for the writer
        self._loops: list[asyncio.Task[None]] = []
        self.on_alerts: Callable[[], None] = lambda: None
        self.batches_committed = 0
        self.events_committed = 0

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: fn(*args, **kwargs))

    async def start(self) -> None:
        young, older, oldest = gc.get_threshold()
        gc.set_threshold(max(GC_YOUNG_THRESHOLD, young), older, oldest)
        for worker in self.workers:
            worker.start()
        self._loops = [asyncio.create_task(self._commit_loop(lane)) for lane in self._lanes]
        self._loops.append(asyncio.create_task(self._beat_loop()))

    async def aclose(self) -> None:
        for task in self._loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for lane in self._lanes:
            lane.executor.shutdown(wait=True)
        for worker in self.workers:
            await asyncio.to_thread(worker.close)
        self._writer.shutdown(wait=True)

    def _submit(
        self, stream: _Stream, agent: AgentInfo, data: bytes
    ) -> asyncio.Future[BatchOutcome]:
        future: asyncio.Future[BatchOutcome] = asyncio.get_running_loop().create_future()
        stream.lane.waiting.append(_Waiting(agent, stream, data, future))
        stream.lane.wake.set()
        return future

    async def _commit_loop(self, lane: _Lane) -> None:
        """Group commit: whatever batches wait for the lane when it is free go into one
        transaction, so many small batches from many agents cost one COMMIT."""
        loop = asyncio.get_running_loop()
        while True:
            await lane.wake.wait()
            lane.wake.clear()
            size = 0
            taken = 0
            while taken < len(lane.waiting) and size < GROUP_MAX_BYTES:
                size += len(lane.waiting[taken].data)
                taken += 1
            group, lane.waiting = lane.waiting[:taken], lane.waiting[taken:]
            if lane.waiting:
                lane.wake.set()  # the rest make the next group
            group = [w for w in group if self._still_wanted(w)]
            if not group:
                continue
            batches = [(w.agent, w.data) for w in group]
            try:
                outcomes = await loop.run_in_executor(
                    lane.executor, lane.commit, batches, time.time_ns()
                )
            except Exception as exc:  # the lane itself broke: every waiter hears it
                log.exception("group commit of %d batches failed", len(group))
                outcomes = [BatchOutcome(0, error=f"commit failed: {exc}")] * len(group)
            for waiting, outcome in zip(group, outcomes, strict=True):
                if outcome.result is None:
                    waiting.stream.broken = True
                if not waiting.future.done():  # else its stream went; the agent resends
                    waiting.future.set_result(outcome)

    @staticmethod
    def _still_wanted(waiting: _Waiting) -> bool:
        """False for a batch whose stream went away or had an earlier batch fail: it is
        not committed (the agent sends it again, in order)."""
        if waiting.stream.broken and not waiting.future.done():
            waiting.future.set_result(
                BatchOutcome(0, error="an earlier batch of this stream failed")
            )
        return not waiting.future.done()

    def _commit_here(self, group: Group, now_ns: int) -> list[BatchOutcome]:
        return commit_raw_batches(
            self.store, group, now_ns=now_ns, max_events=self.max_batch_events
        )

    async def _beat_loop(self) -> None:
        """Heartbeats are written in one trip to the writer thread per wake: 10,000 agents
        beat 333 times a second, and one trip each queued store calls behind them."""
        while True:
            await self._beat.wait()
            self._beat.clear()
            beats, self._beats = list(self._beats.values()), {}
            await self._run(self._write_beats, beats)

    def _write_beats(self, beats: list[tuple[AgentInfo, pb.Heartbeat, int]]) -> None:
        try:
            self.store.record_heartbeats(beats)
        except CollectorError:  # find the one that fails; record the others
            for agent, heartbeat, received_ns in beats:
                try:
                    self.store.record_heartbeat(agent, heartbeat, now_ns=received_ns)
                except CollectorError as exc:  # health goes stale until the next beat
                    log.error("heartbeat of agent %s not recorded: %s", agent.agent_id, exc)

    def cut_off(self, agent_id: str) -> int:
        """Close every open stream of ``agent_id`` (after a revocation). Returns how many."""
        streams = self._streams.get(agent_id, set())
        for stream in streams:
            stream.revoked.set()
        return len(streams)

    # ------------------------------------------------------------------ identity

    async def _identify(self, hello: pb.Hello, context: Context) -> AgentInfo:
        if self.pki is None:
            if not _AGENT_ID.match(hello.agent_id):
                raise _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT, "hello.agent_id is missing or malformed"
                )
            return AgentInfo(hello.agent_id, DEMO_TENANT, hello.hostname[:255] or hello.agent_id)
        auth = context.auth_context()
        names = list(auth.get("x509_common_name") or [])
        pems = list(auth.get("x509_pem_cert") or [])
        if not names or not pems:
            raise _Refused(grpc.StatusCode.UNAUTHENTICATED, "a client certificate is required")
        agent_id = names[0].decode(errors="replace")
        cert_fingerprint = fingerprint(pems[0])

        def lookup() -> tuple[dict[str, Any] | None, bool]:
            # One trip to the writer thread, not two: a fleet reconnecting at once queues
            # thousands of these behind the group commits.
            return self.store.agent(agent_id), self.store.is_revoked(agent_id, cert_fingerprint)

        row, revoked = await self._run(lookup)
        if row is None:
            raise _Refused(grpc.StatusCode.PERMISSION_DENIED, f"unknown agent {agent_id[:80]!r}")
        if revoked:
            raise _Refused(grpc.StatusCode.PERMISSION_DENIED, f"agent {agent_id} is revoked")
        if hello.agent_id and hello.agent_id != agent_id:
            raise _Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"hello claims agent {hello.agent_id[:80]!r} but the certificate is {agent_id}",
            )
        hostname = hello.hostname[:255] or str(row["hostname"])
        return AgentInfo(agent_id, str(row["tenant"]), hostname)

    # ------------------------------------------------------------------ Connect

    async def Connect(
        self, request_iterator: AsyncIterator[Incoming], context: Context
    ) -> AsyncIterator[pb.CollectorMessage]:
        peer = context.peer()
        agent: AgentInfo | None = None
        stream = _Stream(min(self._lanes, key=lambda lane: lane.streams))
        stream.lane.streams += 1
        messages = aiter(request_iterator)
        try:
            first = await anext(messages, None)
            if not isinstance(first, pb.AgentMessage) or first.WhichOneof("body") != "hello":
                raise _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT, "the first message must be a hello"
                )
            agent = await self._identify(first.hello, context)
            stream.tenant = agent.tenant
            stream.bundle_version = bundle_version(first.hello.rules_version)
            self._streams.setdefault(agent.agent_id, set()).add(stream)
            last = await self._run(
                self.store.register_agent,
                agent,
                agent_version=first.hello.agent_version[:64],
                rules_version=first.hello.rules_version[:128],
                os=first.hello.os[:255],
                now_ns=time.time_ns(),
            )
            log.info(
                "agent %s (%s, tenant %s) connected from %s; last committed %d",
                agent.agent_id,
                agent.hostname,
                agent.tenant,
                peer,
                last,
            )
            yield pb.CollectorMessage(
                welcome=pb.Welcome(
                    last_committed_sequence=last,
                    agent_id=agent.agent_id,
                    tenant=agent.tenant,
                    server_time_ns=time.time_ns(),
                )
            )
            async for reply in self._serve(agent, messages, stream):
                yield reply
        except _Refused as refusal:
            log.warning(
                "refused stream from %s: %s", agent.agent_id if agent else peer, refusal.detail
            )
            await context.abort(refusal.code, refusal.detail)
        except CollectorError as exc:
            log.error("stream from %s failed: %s", agent.agent_id if agent else peer, exc)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        finally:
            stream.lane.streams -= 1
            if agent is not None:
                self._streams.get(agent.agent_id, set()).discard(stream)
                log.info("agent %s disconnected", agent.agent_id)

    async def _serve(
        self, agent: AgentInfo, messages: AsyncIterator[Incoming], stream: _Stream
    ) -> AsyncIterator[pb.CollectorMessage]:
        """Answer the agent's messages and pass it commands, until it hangs up or is
        revoked. Each of the three waits lives until it completes (a stream sends many
        batches per command), so a message costs one new task, not three; the pending read
        survives a command being sent: no message is dropped."""
        read: asyncio.Future[Incoming | None] | None = None
        command: asyncio.Future[pb.CollectorMessage] | None = None
        cut = asyncio.ensure_future(stream.revoked.wait())
        # Batches read and handed to the lane, oldest first: acks go out in this order.
        committing: deque[asyncio.Future[BatchOutcome]] = deque()
        try:
            while True:
                if read is None and len(committing) < READ_AHEAD:
                    read = asyncio.ensure_future(anext(messages, None))
                if command is None:
                    command = asyncio.ensure_future(stream.outgoing.get())
                waiting: set[asyncio.Future[Any]] = {command, cut}
                waiting.update(f for f in (read, committing[0] if committing else None) if f)
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if cut.done():
                    raise _Refused(
                        grpc.StatusCode.PERMISSION_DENIED, "agent revoked; stream closed"
                    )
                if command.done():
                    outgoing, command = command.result(), None
                    yield outgoing
                while committing and committing[0].done():
                    yield self._acknowledge(committing.popleft().result())
                if read is not None and read.done():
                    message, read = read.result(), None
                    if message is None:  # the agent is done sending; its acks still go
                        while committing:
                            yield self._acknowledge(await committing.popleft())
                        return
                    if isinstance(message, RawBatch):
                        committing.append(self._submit(stream, agent, message.data))
                        continue
                    reply = await self._handle(agent, message)
                    if reply is not None:
                        yield reply
        finally:
            # A cancelled Queue.get loses nothing; a batch whose future is cancelled is not
            # committed unless it already was (then the agent's resend is a duplicate).
            for pending in (read, command, cut, *committing):
                if pending is not None and not pending.done():
                    pending.cancel()

    def connected(self) -> list[str]:
        return [agent_id for agent_id, streams in self._streams.items() if streams]

    def deliver(self, agent_id: str, command: pb.Command) -> bool:
        """Hand a command to the agent's open stream; False if it has none (any more)."""
        streams = self._streams.get(agent_id)
        if not streams:
            return False
        next(iter(streams)).outgoing.put_nowait(pb.CollectorMessage(command=command))
        return True

    def push_rules(self, bundles: dict[str, pb.RuleBundle]) -> int:
        """Send each connected agent its tenant's bundle (else the fleet's) if it runs
        another; returns how many were sent. The agent validates before applying."""
        sent = 0
        for streams in self._streams.values():
            for stream in streams:
                bundle = bundles.get(stream.tenant) or bundles.get(FLEET)
                if bundle is not None and bundle.version != stream.bundle_version:
                    stream.outgoing.put_nowait(pb.CollectorMessage(rule_bundle=bundle))
                    stream.bundle_version = bundle.version
                    sent += 1
        return sent

    def _acknowledge(self, outcome: BatchOutcome) -> pb.CollectorMessage:
        """The ack of a committed batch; a refused or failed one ends the stream."""
        if outcome.refused:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, outcome.refused)
        result = outcome.result
        if result is None:
            raise StoreError(outcome.error)
        if not result.duplicate:
            self.batches_committed += 1
            self.events_committed += result.events_written
        if result.alerts_opened or result.alerts_updated:
            self.on_alerts()  # pages leave now, not at the outbox's next poll
        return pb.CollectorMessage(ack=pb.Ack(sequence=outcome.sequence))

    async def _handle(
        self, agent: AgentInfo, message: pb.AgentMessage
    ) -> pb.CollectorMessage | None:
        kind = message.WhichOneof("body")
        if kind == "heartbeat":
            self._beats[agent.agent_id] = (agent, message.heartbeat, time.time_ns())
            self._beat.set()
            return None
        if kind == "renew":
            return await self._renew(agent, message.renew)
        if kind == "command_result":
            r = message.command_result
            if r.ok and r.sha256:  # a collected or quarantined file: evidence
                await self._run(
                    self.store.add_evidence_file,
                    agent.agent_id,
                    r.command_id[:64],
                    r.content,
                    r.sha256,
                    now_ns=time.time_ns(),
                )
            await self._run(
                self.store.finish_command,
                agent.agent_id,
                r.command_id[:64],
                ok=r.ok,
                result=r.detail if r.ok else r.error,
                now_ns=time.time_ns(),
            )
            return None
        if kind == "hello":
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, "hello sent twice")
        # Kinds this collector does not know yet are ignored, so a newer agent still works.
        return None

    async def _renew(self, agent: AgentInfo, request: pb.RenewRequest) -> pb.CollectorMessage:
        if self.pki is None:
            raise _Refused(
                grpc.StatusCode.FAILED_PRECONDITION, "no certificates on a demo collector"
            )
        pki = self.pki
        try:
            cert_pem, not_after = sign_agent_csr(
                pki,
                request.csr_pem,
                agent_id=agent.agent_id,
                tenant=agent.tenant,
                days=self.agent_cert_days,
            )
        except PKIError as exc:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from exc
        not_after_ns = int(not_after.timestamp() * 1e9)
        await self._run(
            self.store.record_certificate, agent.agent_id, cert_pem, not_after_ns, time.time_ns()
        )
        log.info(
            "renewed the certificate of agent %s until %s", agent.agent_id, not_after.isoformat()
        )
        return pb.CollectorMessage(
            certificate=pb.CertificateIssued(certificate_pem=cert_pem, not_after_ns=not_after_ns)
        )

    # ------------------------------------------------------------------ Enroll

    async def Enroll(self, request: pb.EnrollRequest, context: Context) -> pb.EnrollResponse:
        if self.pki is None:
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                "this collector runs without TLS (demo); enrollment is off",
            )
        pki = self.pki
        assert pki is not None
        peer = context.peer()

        def sign(agent_id: str, tenant: str) -> tuple[bytes, int]:
            cert, not_after = sign_agent_csr(
                pki, request.csr_pem, agent_id=agent_id, tenant=tenant, days=self.agent_cert_days
            )
            return cert, int(not_after.timestamp() * 1e9)

        try:
            agent_id, tenant, cert = await self._run(
                self.store.enroll, request.token, request.hostname, now_ns=time.time_ns(), sign=sign
            )
        except StoreError as exc:
            log.warning("enrollment from %s (%s) refused: %s", peer, request.hostname[:80], exc)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except PKIError as exc:
            log.warning("enrollment from %s refused: %s", peer, exc)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        log.info(
            "enrolled agent %s (%s) in tenant %s from %s",
            agent_id,
            request.hostname[:80],
            tenant,
            peer,
        )
        return pb.EnrollResponse(
            agent_id=agent_id,
            tenant=tenant,
            certificate_pem=cert,
            ca_pem=pki.ca_cert.read_bytes(),
            connect_port=self.connect_port,
        )


def add_to_server(service: IngestService, server: grpc.aio.Server) -> None:
    """Register ``service``; its Connect stream reads batches as raw bytes
    (:func:`~collector.batches.read_agent_message`), the rest as generated."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Enroll": grpc.unary_unary_rpc_method_handler(
            service.Enroll,
            request_deserializer=pb.EnrollRequest.FromString,
            response_serializer=pb.EnrollResponse.SerializeToString,
        ),
        "Connect": grpc.stream_stream_rpc_method_handler(
            service.Connect,
            request_deserializer=read_agent_message,
            response_serializer=pb.CollectorMessage.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("exwatch.v1.Collector", handlers),)
    )
    server.add_registered_method_handlers("exwatch.v1.Collector", handlers)
