"""Account abuse from written IIS log lines with the built-in rules: password spray, brute
force, success after brute force, one account from many addresses; hunt, live, tenant tuning."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from agent.bundles import bundle_folders, write_bundle
from agent.detection import Severity
from agent.hunt import hunt, hunt_paths
from agent.logs.formats import LogFormat
from agent.sigma import SigmaRuleSet
from agent.sigma.correlation import CorrelationFinding
from agent.sources.logs import LogMonitor
from agent.spool import Spool
from agent.state import StateDB
from protos import exwatch_pb2 as pb

HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\r\n"
    "#Version: 1.0\r\n"
    "#Date: 2026-01-20 00:00:00\r\n"
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n"
)
ATTACKER = "198.51.100.23"
RULES = SigmaRuleSet.load([])
SPRAY_ID = "97bc06e3-0a9c-4a0c-88d5-9a793a127070"
BRUTE_ID = "903bf728-4c1a-4631-b8a4-efe2d925f127"
SUCCESS_AFTER_ID = "2b3ab592-3acd-4753-8598-fe30ef9b9969"
MANY_ADDRESSES_ID = "ed088a3b-6c43-4dfd-878b-b98a4c3adb38"
OWA_FAILURES_ID = "4cb27a10-a364-4f11-953f-a523e7bc2410"


AUTODISCOVER = "/Autodiscover/Autodiscover.xml"


def at(seconds: int) -> str:
    hh, rest = divmod(seconds, 3600)
    mm, ss = divmod(rest, 60)
    return f"2026-01-20 {9 + hh:02d}:{mm:02d}:{ss:02d}"


def request(
    seconds: int,
    user: str,
    ip: str = ATTACKER,
    *,
    status: int = 401,
    stem: str = "/EWS/Exchange.asmx",
    method: str = "POST",
    query: str = "-",
    win32: int | None = None,
) -> str:
    substatus = 1 if status == 401 else 0
    win32 = win32 if win32 is not None else (1326 if status == 401 else 0)
    return (
        f"{at(seconds)} 10.0.0.5 {method} {stem} {query} 443 {user} {ip} "
        f"Microsoft+Office/16.0 - {status} {substatus} {win32} 31\r\n"
    )


def write_log(folder: Path, lines: list[str], name: str = "u_ex260120.log") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(HEADER + "".join(lines), newline="")
    return path


def correlations(paths: list[Path], rules: SigmaRuleSet = RULES) -> list[CorrelationFinding]:
    return [f for f in hunt_paths(paths, rules) if isinstance(f, CorrelationFinding)]


def spray(accounts: int, ip: str = ATTACKER) -> list[str]:
    return [request(i * 20, f"CONTOSO\\user{i:02d}", ip) for i in range(accounts)]


def test_spray_across_50_accounts_is_one_event_naming_them_all(tmp_path: Path) -> None:
    log = write_log(tmp_path / "W3SVC1", spray(50))
    everything = list(hunt_paths([log], RULES))
    [found] = everything  # the single failures are not reported one by one
    assert isinstance(found, CorrelationFinding)
    assert found.detection.rule_id == SPRAY_ID
    assert "password spray" in found.detection.title.lower()
    assert found.detection.severity == Severity.HIGH
    assert "attack.t1110.003" in found.detection.tags
    assert found.group == {"c-ip": ATTACKER}
    assert found.count == 50
    assert found.values == tuple(f"contoso\\user{i:02d}" for i in range(50))
    event = found.to_event(retro=True)
    assert event.WhichOneof("body") == "correlation"
    assert event.matches[0].rule_id == SPRAY_ID
    assert list(event.correlation.values) == list(found.values)
    assert event.correlation.count == 50
    assert event.correlation.files == [str(log)]
    assert event.correlation.lines[0] == 5  # the first record, after four header lines
    assert event.correlation.last_ns - event.correlation.first_ns == 49 * 20 * 10**9


def test_three_mistyped_passwords_are_nothing(tmp_path: Path) -> None:
    lines = [request(i * 15, "CONTOSO\\alice") for i in range(3)]
    lines.append(request(60, "CONTOSO\\alice", status=200, stem=AUTODISCOVER))
    # the first leg of every NTLM handshake is a 401 as well, for all clients
    lines += [
        request(100 + i, f"CONTOSO\\user{i}", "203.0.113.40", win32=2148074254) for i in range(30)
    ]
    # and a busy office behind one address: many accounts logging on is no spray
    lines += [
        request(120 + i, f"CONTOSO\\user{i}", "203.0.113.40", status=200, stem=AUTODISCOVER)
        for i in range(30)
    ]
    assert list(hunt_paths([write_log(tmp_path, lines)], RULES)) == []


def test_success_after_brute_force_is_high(tmp_path: Path) -> None:
    lines = [request(i * 10, "CONTOSO\\bob") for i in range(25)]
    lines.append(
        request(
            400, "CONTOSO\\bob", status=200, stem="/Microsoft-Server-ActiveSync", method="OPTIONS"
        )
    )
    found = {f.detection.rule_id: f for f in correlations([write_log(tmp_path, lines)])}
    assert set(found) == {BRUTE_ID, SUCCESS_AFTER_ID}
    assert "brute force" in found[BRUTE_ID].detection.title.lower()
    assert found[BRUTE_ID].count == 25
    success = found[SUCCESS_AFTER_ID]
    assert success.detection.severity == Severity.HIGH
    assert success.group == {"cs-username": "contoso\\bob", "c-ip": ATTACKER}
    # The same success from another address, or before the failures, is no such thing.
    other = [
        *lines[:-1],
        request(400, "CONTOSO\\bob", "203.0.113.9", status=200, stem=AUTODISCOVER),
    ]
    assert SUCCESS_AFTER_ID not in {
        f.detection.rule_id for f in correlations([write_log(tmp_path, other)])
    }
    before = [request(0, "CONTOSO\\bob", status=200, stem=AUTODISCOVER)] + [
        request(10 + i * 10, "CONTOSO\\bob") for i in range(25)
    ]
    assert SUCCESS_AFTER_ID not in {
        f.detection.rule_id for f in correlations([write_log(tmp_path, before)])
    }


def test_out_of_order_lines_across_logs_give_the_same_answer(tmp_path: Path) -> None:
    lines = spray(30)
    # The second half of the spray sits in a log read first (another site's folder).
    second = write_log(tmp_path / "a_W3SVC2", lines[15:])
    first = write_log(tmp_path / "b_W3SVC1", lines[:15])
    [found] = correlations([second, first])
    assert found.count == 30
    assert set(found.files) == {str(first), str(second)}


def test_one_account_from_many_addresses(tmp_path: Path) -> None:
    lines = [
        request(i * 60, "carol@contoso.com", f"203.0.113.{10 + i}", status=200, stem=AUTODISCOVER)
        for i in range(12)
    ]
    [found] = correlations([write_log(tmp_path, lines)])
    assert found.detection.rule_id == MANY_ADDRESSES_ID
    assert found.count == 12
    assert found.values[0] == "203.0.113.10"
    few = lines[:3]
    assert correlations([write_log(tmp_path, few)]) == []


def test_owa_failures_from_one_address(tmp_path: Path) -> None:
    revisit = "replaceCurrent=1&reason=2&url=https%3a%2f%2fmail.contoso.com%2fowa%2f"
    lines = []
    for i in range(25):
        lines.append(request(i * 30, "-", stem="/owa/auth.owa", status=302))
        lines.append(
            request(
                i * 30 + 1,
                "-",
                stem="/owa/auth/logon.aspx",
                method="GET",
                query=revisit,
                status=200,
            )
        )
    [found] = correlations([write_log(tmp_path, lines)])
    assert found.detection.rule_id == OWA_FAILURES_ID
    assert found.count == 25
    assert found.group == {"c-ip": ATTACKER}


def test_tenant_bundle_replaces_the_builtin_threshold(tmp_path: Path) -> None:
    log = write_log(tmp_path / "logs", spray(50))
    builtin = (RULES.correlations[0].file.parent / "account_password_spray.yml").read_text()
    stricter = builtin.replace("gte: 10", "gte: 60")
    bundle = pb.RuleBundle(
        version="tenant1",
        files=[pb.RuleFile(path="sigma/account_password_spray.yml", content=stricter.encode())],
    )
    write_bundle(tmp_path / "bundle", bundle)
    sigma_folders, _ = bundle_folders(tmp_path / "bundle")
    tuned = SigmaRuleSet.load(sigma_folders)
    assert correlations([log], tuned) == []
    assert len(correlations([write_log(tmp_path / "more", spray(60))], tuned)) == 1


def test_hunt_command_reports_password_spray(tmp_path: Path) -> None:
    log = write_log(tmp_path / "W3SVC1", [*spray(12), request(500, "CONTOSO\\a", status=200)])
    result = CliRunner().invoke(hunt, [str(log)])
    assert result.exit_code == 1, result.output
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["rule_id"] == SPRAY_ID
    assert "Password Spray" in line["title"]
    assert line["correlation"]["count"] == 12
    assert line["correlation"]["group"] == {"c-ip": ATTACKER}
    assert len(line["correlation"]["values"]) == 12
    assert line["file"] == str(log) and line["line"] == 5
    assert "1 detections" in result.stderr
    table = CliRunner().invoke(hunt, [str(log), "--format", "table"])
    assert table.exit_code == 1
    assert "Password Spray" in table.stdout
    assert "12 distinct" in table.stdout


def test_live_monitor_emits_one_spray_event(tmp_path: Path) -> None:
    folder = tmp_path / "W3SVC1"
    log = write_log(folder, [request(0, "-", status=200, stem="/owa/")])
    db = StateDB(tmp_path / "agent.db")
    spool = Spool(db, max_bytes=10**9)
    monitor = LogMonitor(
        {LogFormat.IIS: [str(folder / "u_ex*.log")]}, db, spool, RULES, poll_seconds=0.05
    )
    events: list[pb.Event] = []

    def wait_for(predicate: Callable[[list[pb.Event]], bool]) -> None:
        deadline = time.monotonic() + 10
        while not predicate(events):
            assert time.monotonic() < deadline, events
            while batch := spool.cut_batch(max_events=10_000, max_bytes=10**9):
                events.extend(batch.events)
                spool.acknowledge(batch.sequence)
            time.sleep(0.05)

    monitor.start()
    try:
        assert monitor.ready.wait(10)
        with log.open("a", newline="") as fh:
            fh.write("".join(spray(50)))
        wait_for(lambda ev: len(ev) >= 1)
        time.sleep(0.3)
        wait_for(lambda ev: True)
    finally:
        monitor.stop()
        db.close()
    [event] = events
    assert not event.retro
    assert event.matches[0].rule_id == SPRAY_ID
    assert event.correlation.count == 50
    assert len(event.correlation.values) == 50
    assert event.correlation.group["c-ip"] == ATTACKER
