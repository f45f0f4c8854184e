"""Several collectors on one PostgreSQL: two ``Store`` objects (each with its own
connections, as two collector processes have) commit at the same moment. Every event is
stored once, one incident is one alert, and its page is queued once."""

from __future__ import annotations

import threading

import pytest
from test_notify_support import routes_for

from collector.store import AgentInfo, Store
from protos import exwatch_pb2 as pb

A = AgentInfo("agent-a", "acme", "EXCH-A")


def shell(uid: str, n: int) -> pb.Event:
    return pb.Event(
        id=uid,
        host_time_ns=10 + n,
        file=pb.FileEvent(
            action=pb.FILE_ACTION_CREATED,
            path=rf"C:\inetpub\wwwroot\aspnet_client\s{n}.aspx",
            sha256=f"{n:064x}",
            root_kind="webroot",
            verdict=pb.VERDICT_MALICIOUS,
        ),
        matches=[pb.Match(rule_id="yara.shell", title="Webshell", severity=pb.SEVERITY_CRITICAL)],
    )


def plain(uid: str) -> pb.Event:
    return pb.Event(id=uid, host_time_ns=5, log=pb.LogRecordEvent(source="iis", line=1))


@pytest.mark.parametrize("store_target", ["postgresql"], indirect=True)
def test_two_writers_store_each_event_once_and_open_one_incident(store_target: str) -> None:
    routes = routes_for(
        {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s3cretvalue"}}
    )
    first, second = Store(store_target, routes=routes), Store(store_target, routes=routes)
    try:
        first.register_agent(A, agent_version="1", rules_version="", os="", now_ns=1)
        # The same batches reach both collectors (an agent that moved mid-burst resends
        # what the first had committed but not yet acknowledged), in racing order.
        batches = [
            (seq, [plain(f"p{seq}-{i}") for i in range(50)] + [shell(f"s{seq}", seq)])
            for seq in range(1, 41)
        ]
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def ingest(store: Store, order: list[tuple[int, list[pb.Event]]]) -> None:
            try:
                start.wait()
                for seq, events in order:
                    store.commit_batch(A, seq, events, now_ns=100 + seq)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=ingest, args=(first, batches)),
            threading.Thread(target=ingest, args=(second, batches)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        uids = first.event_uids()
        assert len(uids) == len(set(uids)) == 40 * 51
        incidents = [a for a in first.list_alerts() if a["rule"] == "exwatch.incident"]
        assert len(incidents) == 1
        assert sorted(incidents[0]["evidence"]) == sorted(f"s{seq}" for seq in range(1, 41))
        with first._lock:
            pages = first._conn.execute(
                "SELECT COUNT(*) FROM notifications WHERE alert_id = ? AND reason = 'opened'",
                (incidents[0]["id"],),
            ).fetchone()[0]
        assert pages == 1
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("store_target", ["postgresql"], indirect=True)
def test_two_collectors_mark_a_silent_host_offline_once(store_target: str) -> None:
    first, second = Store(store_target), Store(store_target)
    try:
        first.register_agent(A, agent_version="1", rules_version="", os="", now_ns=1)
        start = threading.Barrier(2)
        found: list[list[str]] = []

        def sweep(store: Store) -> None:
            start.wait()
            found.append(store.mark_offline(older_than_ns=10**12, now_ns=10**12))

        threads = [threading.Thread(target=sweep, args=(s,)) for s in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        offline = [a for a in first.list_alerts() if a["rule"] == "exwatch.sensor.host_offline"]
        assert len(offline) == 1 and offline[0]["event_count"] in (1, 2)
    finally:
        first.close()
        second.close()
