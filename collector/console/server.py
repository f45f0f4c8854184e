"""Serve the console with uvicorn on the caller's running event loop (the collector's,
beside grpc.aio), rather than in a process or thread of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI


class ConsoleServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host process: the collector already
    turns SIGINT/SIGTERM into an orderly stop of gRPC *and* the console."""

    task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(server: ConsoleServer) -> None:
    try:
        await server.serve()
    except SystemExit as exc:
        # uvicorn exits the process when it cannot bind; on a shared loop that would take
        # the gRPC server down with it.
        raise OSError("console server stopped at startup (see the log)") from exc


async def start_console(app: FastAPI, host: str, port: int) -> tuple[ConsoleServer, int]:
    """Start serving ``app`` as a task on the running loop; returns the server and the
    port it bound (useful with port 0). Raises OSError when it cannot listen."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="none",  # the loop is already running: the collector's
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,  # client addresses in the audit log are the peer's, never a header's
    )
    server = ConsoleServer(config)
    server.task = asyncio.create_task(_serve(server), name="exwatch-console")
    while not server.started:
        if server.task.done():
            # uvicorn logs bind errors and exits with SystemExit(1); say what happened.
            exc = server.task.exception() if not server.task.cancelled() else None
            raise OSError(f"console could not listen on {host}:{port}") from exc
        await asyncio.sleep(0.01)
    bound = port
    for s in server.servers:
        for sock in s.sockets:
            bound = int(sock.getsockname()[1])
            break
    return server, bound


async def stop_console(server: ConsoleServer, *, timeout: float = 5.0) -> None:
    """Stop accepting, finish in-flight requests (up to ``timeout``), run app shutdown."""
    server.should_exit = True
    if server.task is not None:
        try:
            await asyncio.wait_for(server.task, timeout)
        except TimeoutError:
            server.force_exit = True
            await server.task
