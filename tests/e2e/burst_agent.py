"""A real agent process for delivery fault tests: the agent's own spool and transport,
fed with a numbered burst of events instead of sensors.

    python tests/e2e/burst_agent.py DATA_DIR COLLECTOR --generate N
        [--kind file|log|incident] [--spool-bytes B] [--agent-id ID]

Events get ids ``<ID>-<n>`` (``burst-<n>`` by default) so a test can check that each
arrived exactly once. ``incident``: log lines with a webshell written every
``SHELL_EVERY`` events, all of it one incident on this host. With ``--generate`` the burst
is written to the spool first (once: a restart, say against another collector, does not
write it again); the process then streams until the spool is empty and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from agent.spool import Spool
from agent.state import StateDB
from agent.transport import Identity, Transport
from protos import exwatch_pb2 as pb

SHELL_EVERY = 500


def event(prefix: str, n: int, kind: str) -> pb.Event:
    e = pb.Event(id=f"{prefix}-{n:07d}", host_time_ns=time.time_ns())
    if kind == "file":
        e.file.CopyFrom(pb.FileEvent(action=pb.FILE_ACTION_MODIFIED, path=f"/r/{n}.txt"))
    elif kind == "incident" and n % SHELL_EVERY == 0:
        e.file.CopyFrom(
            pb.FileEvent(
                action=pb.FILE_ACTION_CREATED,
                path=rf"C:\inetpub\wwwroot\aspnet_client\s{n}.aspx",
                sha256=f"{n:064x}",
                root_kind="webroot",
                verdict=pb.VERDICT_MALICIOUS,
            )
        )
        e.matches.append(
            pb.Match(rule_id="yara.shell", title="Webshell", severity=pb.SEVERITY_CRITICAL)
        )
    else:
        e.log.CopyFrom(
            pb.LogRecordEvent(
                source="iis",
                file="u_ex.log",
                line=n,
                fields={"cs-uri-stem": "/owa/", "c-ip": "10.0.0.1"},
            )
        )
    return e


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("collector")
    parser.add_argument("--generate", type=int, default=0)
    parser.add_argument("--kind", choices=["file", "log", "incident"], default="file")
    parser.add_argument("--agent-id", default="")
    parser.add_argument("--spool-bytes", type=int, default=1 << 30)
    args = parser.parse_args()

    prefix = args.agent_id or "burst"
    identity = (
        Identity(args.agent_id, args.agent_id.upper())
        if args.agent_id
        else Identity("burst-agent", "BURST01")
    )
    db = StateDB(args.data_dir / "agent.db")
    spool = Spool(db, max_bytes=args.spool_bytes)
    if args.generate and not db.get_meta("generated"):
        for start in range(0, args.generate, 1000):
            with db.transaction() as conn:
                stop = min(start + 1000, args.generate)
                spool.append(conn, [event(prefix, n, args.kind) for n in range(start, stop)])
                if start + 1000 >= args.generate:
                    StateDB.set_meta(conn, "generated", "1")
        print(f"generated {args.generate}; shed {spool.shed_total}", flush=True)
    transport = Transport(
        args.collector,
        spool,
        identity,
        rules_version=str,
        heartbeat=pb.Heartbeat,
    )
    transport.start()
    while spool.depth()[0]:
        time.sleep(0.1)
    transport.stop()
    db.close()
    print("drained", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
