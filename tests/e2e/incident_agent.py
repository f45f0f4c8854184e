"""A real agent process for the several-collectors test: the agent's own spool and
transport, fed with a numbered burst of log lines in which a webshell is written now and
then (all of it one incident on this host).

    python tests/e2e/incident_agent.py DATA_DIR COLLECTOR AGENT_ID --generate N

Events get ids ``<AGENT_ID>-<n>``. The burst is written to the spool once (a restart, say
against another collector, does not write it again); the process then streams until the
spool is empty and exits 0.
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


def event(agent_id: str, n: int) -> pb.Event:
    e = pb.Event(id=f"{agent_id}-{n:07d}", host_time_ns=time.time_ns())
    if n % SHELL_EVERY == 0:
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
            pb.LogRecordEvent(source="iis", file="u_ex.log", line=n, fields={"c-ip": "10.0.0.1"})
        )
    return e


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("collector")
    parser.add_argument("agent_id")
    parser.add_argument("--generate", type=int, default=0)
    args = parser.parse_args()

    db = StateDB(args.data_dir / "agent.db")
    spool = Spool(db, max_bytes=1 << 30)
    if args.generate and not db.get_meta("generated"):
        for start in range(0, args.generate, 1000):
            with db.transaction() as conn:
                stop = min(start + 1000, args.generate)
                spool.append(conn, [event(args.agent_id, n) for n in range(start, stop)])
                if stop == args.generate:
                    StateDB.set_meta(conn, "generated", "1")
        print(f"generated {args.generate}", flush=True)
    transport = Transport(
        args.collector,
        spool,
        Identity(args.agent_id, args.agent_id.upper()),
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
