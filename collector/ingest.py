"""The gRPC service: agents connect, are identified, and stream batches that are committed
before they are acknowledged."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

from collector.errors import CollectorError
from collector.store.base import AgentInfo, Store
from protos import exwatch_pb2 as pb
from protos import exwatch_pb2_grpc as pb_grpc

log = logging.getLogger("exwatch.collector.ingest")

DEMO_TENANT = "default"
_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")

T = TypeVar("T")


class IngestService(pb_grpc.CollectorServicer):
    """One instance per server. Store calls run on one writer thread, off the event loop."""

    def __init__(self, store: Store, *, max_batch_events: int) -> None:
        self.store = store
        self.max_batch_events = max_batch_events
        self._writer = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="ThreadPoolExecutor-store"
        )
        self.batches_committed = 0
        self.events_committed = 0

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    def _identify(self, hello: pb.Hello, context: grpc.aio.ServicerContext[Any, Any]) -> AgentInfo:
        # Plain loopback demo: the only mode where the message names the agent.
        if not _AGENT_ID.match(hello.agent_id):
            raise _Refused(
                grpc.StatusCode.INVALID_ARGUMENT, "hello.agent_id is missing or malformed"
            )
        hostname = hello.hostname[:255] or hello.agent_id
        return AgentInfo(agent_id=hello.agent_id, tenant=DEMO_TENANT, hostname=hostname)

    def _check_batch(self, batch: pb.EventBatch) -> None:
        if batch.sequence == 0:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, "batch sequence must be positive")
        if len(batch.events) > self.max_batch_events:
            raise _Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"batch {batch.sequence} has {len(batch.events)} events; "
                f"limit {self.max_batch_events}",
            )
        for event in batch.events:
            if not _EVENT_ID.match(event.id):
                raise _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"batch {batch.sequence}: event id {event.id[:90]!r} is missing or malformed",
                )

    async def Connect(
        self,
        request_iterator: AsyncIterator[pb.AgentMessage],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.CollectorMessage]:
        peer = context.peer()
        agent: AgentInfo | None = None
        try:
            first = await anext(aiter(request_iterator), None)
            if first is None or first.WhichOneof("body") != "hello":
                raise _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT, "the first message must be a hello"
                )
            agent = self._identify(first.hello, context)
            last = await self._run(
                self.store.register_agent,
                agent,
                agent_version=first.hello.agent_version,
                rules_version=first.hello.rules_version,
                os=first.hello.os,
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
            async for message in request_iterator:
                kind = message.WhichOneof("body")
                if kind == "batch":
                    self._check_batch(message.batch)
                    result = await self._run(
                        self.store.commit_batch,
                        agent,
                        message.batch.sequence,
                        list(message.batch.events),
                        now_ns=time.time_ns(),
                    )
                    if not result.duplicate:
                        self.batches_committed += 1
                        self.events_committed += result.events_written
                    yield pb.CollectorMessage(ack=pb.Ack(sequence=message.batch.sequence))
                elif kind == "heartbeat":
                    await self._run(
                        self.store.record_heartbeat, agent, message.heartbeat, now_ns=time.time_ns()
                    )
                elif kind == "hello":
                    raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, "hello sent twice")
                # command results arrive with the command channel; unknown kinds are ignored so
                # that a newer agent can talk to an older collector.
        except _Refused as refusal:
            who = agent.agent_id if agent else peer
            log.warning("refused stream from %s: %s", who, refusal.detail)
            await context.abort(refusal.code, refusal.detail)
        except CollectorError as exc:
            log.error("stream from %s failed: %s", agent.agent_id if agent else peer, exc)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        finally:
            if agent is not None:
                log.info("agent %s disconnected", agent.agent_id)

    async def Enroll(
        self, request: pb.EnrollRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.EnrollResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "enrollment needs a collector with TLS")
        raise AssertionError("unreachable")


class _Refused(Exception):
    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
