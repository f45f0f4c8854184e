"""Carry out the collector's commands and record each as an audited action event."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict

from agent.errors import AgentError
from agent.events import new_event
from agent.respond.collect import FileCollector
from agent.respond.containment import Containment
from agent.respond.quarantine import Vault
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.agent.respond")

CONTAINMENT_KINDS = ("isolate", "release", "block_address", "unblock_address", "web_access")


class CommandHandler:
    def __init__(
        self,
        vault: Vault,
        emit: Callable[[list[pb.Event]], None],
        rescan: Callable[[], None],
        *,
        files: FileCollector,
        containment: Containment,
    ) -> None:
        self.vault = vault
        self.files = files
        self.containment = containment
        self.emit = emit
        self.rescan = rescan

    def __call__(self, command: pb.Command) -> pb.CommandResult:
        kind = command.WhichOneof("body") or "unknown"
        target = ""
        content = b""  # a collected or quarantined file, kept by the collector as evidence
        try:
            if kind == "quarantine":
                target = command.quarantine.path
                entry = self.vault.quarantine(target)
                detail = json.dumps(asdict(entry))
                content = self.files.vault_copy(self.vault, entry)
            elif kind == "restore":
                target = command.restore.vault_id
                detail = json.dumps(asdict(self.vault.restore(target)))
            elif kind == "rescan":
                self.rescan()
                detail = "rescan started"
            elif kind == "collect_file":
                target = command.collect_file.path
                collected = self.files.collect(target)
                detail, content = json.dumps(collected.metadata()), collected.content
            elif kind in CONTAINMENT_KINDS:
                target, detail = self._contain(command)
            else:
                raise AgentError(f"unknown command {kind!r}")
            ok, error = True, ""
        except AgentError as exc:
            ok, error, detail, content = False, str(exc), "", b""
        log.warning("command %s %s %s: %s", command.id, kind, target, "done" if ok else error)
        event = new_event()
        event.action.CopyFrom(
            pb.ActionEvent(
                command_id=command.id, action=kind, path=target, ok=ok, detail=detail or error
            )
        )
        self.emit([event])
        # A collected file may be empty; a quarantine sends none when over the cap.
        carried = ok and (bool(content) or kind == "collect_file")
        return pb.CommandResult(
            command_id=command.id,
            ok=ok,
            error=error,
            detail=detail,
            content=content,
            sha256=hashlib.sha256(content).hexdigest() if carried else "",
        )

    def _contain(self, command: pb.Command) -> tuple[str, str]:
        """A containment command: (its target, for the audit record; what was done)."""
        c = self.containment
        if command.HasField("isolate"):
            allow = list(command.isolate.allow)
            return ",".join(allow), c.isolate(allow, command.isolate.minutes)
        if command.HasField("release"):
            return "", c.release()
        if command.HasField("block_address"):
            address = command.block_address.address
            return address, c.block(address, command.block_address.minutes)
        if command.HasField("unblock_address"):
            return command.unblock_address.address, c.unblock(command.unblock_address.address)
        offline, minutes = command.web_access.offline, command.web_access.minutes
        return ("offline" if offline else "online"), c.web_access(offline, minutes)
