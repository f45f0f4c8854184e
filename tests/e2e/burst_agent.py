"""A real agent process for delivery fault tests: the agent's own spool and transport,
fed with a numbered burst of events instead of sensors.

    python tests/e2e/burst_agent.py DATA_DIR COLLECTOR --generate N [--kind file|log]
        [--spool-bytes B]

Events get ids ``burst-<n>`` so a test can check that each arrived exactly once. With
``--generate`` the burst is written to the spool first (once: a restart does not write it
again); the process then streams until the spool is empty and exits 0.
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


def event(n: int, kind: str) -> pb.Event:
    e = pb.Event(id=f"burst-{n:07d}", host_time_ns=time.time_ns())
    if kind == "file":
        e.file.CopyFrom(pb.FileEvent(action=pb.FILE_ACTION_MODIFIED, path=f"/r/{n}.txt"))
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
    parser.add_argument("--kind", choices=["file", "log"], default="file")
    parser.add_argument("--spool-bytes", type=int, default=1 << 30)
    args = parser.parse_args()

    db = StateDB(args.data_dir / "agent.db")
    spool = Spool(db, max_bytes=args.spool_bytes)
    if args.generate and not db.get_meta("generated"):
        for start in range(0, args.generate, 1000):
            with db.transaction() as conn:
                spool.append(
                    conn,
                    [event(n, args.kind) for n in range(start, min(start + 1000, args.generate))],
                )
                if start + 1000 >= args.generate:
                    StateDB.set_meta(conn, "generated", "1")
        print(f"generated {args.generate}; shed {spool.shed_total}", flush=True)
    transport = Transport(
        args.collector,
        spool,
        Identity("burst-agent", "BURST01"),
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
