"""Carry out the collector's commands and record each as an audited action event."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict

from agent.errors import AgentError
from agent.events import new_event
from agent.respond.quarantine import Vault
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.agent.respond")


class CommandHandler:
    def __init__(
        self, vault: Vault, emit: Callable[[list[pb.Event]], None], rescan: Callable[[], None]
    ) -> None:
        self.vault = vault
        self.emit = emit
        self.rescan = rescan

    def __call__(self, command: pb.Command) -> pb.CommandResult:
        kind = command.WhichOneof("body") or "unknown"
        target = ""
        try:
            if kind == "quarantine":
                target = command.quarantine.path
                detail = json.dumps(asdict(self.vault.quarantine(target)))
            elif kind == "restore":
                target = command.restore.vault_id
                detail = json.dumps(asdict(self.vault.restore(target)))
            elif kind == "rescan":
                self.rescan()
                detail = "rescan started"
            else:
                raise AgentError(f"unknown command {kind!r}")
            ok, error = True, ""
        except AgentError as exc:
            ok, error, detail = False, str(exc), ""
        log.warning("command %s %s %s: %s", command.id, kind, target, "done" if ok else error)
        event = new_event()
        event.action.CopyFrom(
            pb.ActionEvent(
                command_id=command.id, action=kind, path=target, ok=ok, detail=detail or error
            )
        )
        self.emit([event])
        return pb.CommandResult(command_id=command.id, ok=ok, error=error, detail=detail)
