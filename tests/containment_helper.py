"""Plays the agent's command handler inside a test's network namespace.

Run as ``python -m tests.containment_helper --state DIR --collector ADDR COMMAND_HEX``
(``ip netns exec HOST ...``): one serialized ``pb.Command`` goes through the real
``CommandHandler`` and ``Containment`` with the real nftables backend, and the result and
the audit events come back as one JSON line. ``--resume`` runs the start-up check instead;
``--wait S`` keeps the process (and the containment's own timers) alive S seconds.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import time
from pathlib import Path

from agent.platform.firewall_linux import NftablesFirewall
from agent.respond.collect import FileCollector
from agent.respond.commands import CommandHandler
from agent.respond.containment import Containment, ContainmentPolicy, NoWebFrontEnds
from agent.respond.quarantine import Vault
from protos import exwatch_pb2 as pb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--collector", required=True)
    parser.add_argument("--management", action="append", default=[])
    parser.add_argument("--seconds-per-minute", type=float, default=60.0)
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("command", nargs="?", default="")
    args = parser.parse_args()
    events: list[pb.Event] = []
    containment = Containment(
        NftablesFirewall(),
        NoWebFrontEnds(),
        ContainmentPolicy(
            collector=args.collector,
            management=tuple(ipaddress.ip_network(m) for m in args.management),
        ),
        args.state / "containment.json",
        events.extend,
        seconds_per_minute=args.seconds_per_minute,
    )
    result = pb.CommandResult()
    if args.resume:
        containment.resume()
    else:
        handler = CommandHandler(
            Vault(args.state / "vault", [args.state / "root"]),
            events.extend,
            lambda: None,
            files=FileCollector([], max_bytes=1),
            containment=containment,
        )
        result = handler(pb.Command.FromString(bytes.fromhex(args.command)))
    time.sleep(args.wait)
    containment.close()
    actions = [
        {"action": e.action.action, "target": e.action.path, "ok": e.action.ok,
         "detail": e.action.detail, "command_id": e.action.command_id}
        for e in events
    ]  # fmt: skip
    print(json.dumps({"ok": result.ok, "error": result.error, "detail": result.detail,
                      "actions": actions}))  # fmt: skip


if __name__ == "__main__":
    main()
