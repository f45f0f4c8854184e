"""Built-in per-event alert rules, without a store."""

from __future__ import annotations

import pytest

from collector.alerting.candidates import candidates_for
from protos import exwatch_pb2 as pb


def file_event(path: str, action: int = pb.FILE_ACTION_CREATED, **kw) -> pb.Event:
    return pb.Event(
        id="e",
        host_time_ns=1,
        file=pb.FileEvent(action=action, path=path, sha256="a" * 64, root_kind="webroot", **kw),
    )


@pytest.mark.parametrize("name", ["shell.aspx", "x.ASHX", "s.asmx", "a.asp", "b.cshtml", "c.aspx "])
def test_new_page_raises_one_high_alert(name: str) -> None:
    [cand] = candidates_for(
        "t", "a1", "EXCH01", file_event(rf"C:\inetpub\wwwroot\aspnet_client\{name}")
    )
    assert cand.severity == pb.SEVERITY_HIGH
    assert cand.rule == "exwatch.webroot.page_written"
    assert "attack.t1505.003" in cand.tags
    assert cand.details["sha256"] == "a" * 64


def test_same_path_same_fingerprint_case_insensitive() -> None:
    a = candidates_for("t", "a1", "h", file_event(r"C:\x\Shell.aspx"))[0]
    b = candidates_for("t", "a1", "h", file_event(r"C:\x\shell.aspx", pb.FILE_ACTION_MODIFIED))[0]
    c = candidates_for("t", "a2", "h", file_event(r"C:\x\shell.aspx"))[0]
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize("name", ["readme.txt", "logo.png", "web.config.bak", "noext"])
def test_non_pages_and_deletes_raise_nothing(name: str) -> None:
    assert candidates_for("t", "a", "h", file_event(f"/r/{name}")) == []
    assert candidates_for("t", "a", "h", file_event("/r/x.aspx", pb.FILE_ACTION_DELETED)) == []


def test_malicious_verdict_is_critical_even_for_non_page() -> None:
    event = file_event("/r/app.js", verdict=pb.VERDICT_MALICIOUS)
    event.matches.add(
        rule_id="y1",
        title="JScript eval of request data",
        severity=pb.SEVERITY_CRITICAL,
        tags=["attack.t1505.003"],
    )
    [cand] = candidates_for("t", "a", "h", event)
    assert cand.severity == pb.SEVERITY_CRITICAL
    assert "JScript eval" in cand.title


def test_log_detections_are_incident_evidence_medium_only_joins() -> None:
    event = pb.Event(id="e", log=pb.LogRecordEvent(source="iis", file="u_ex.log", line=3))
    event.matches.add(rule_id="r-low", title="noise", severity=pb.SEVERITY_LOW)
    assert candidates_for("t", "a", "h", event) == []
    event.matches.add(rule_id="r-medium", title="failed probe", severity=pb.SEVERITY_MEDIUM)
    [medium] = candidates_for("t", "a", "h", event)
    assert medium.incident
    assert not medium.opens
    event.matches.add(
        rule_id="r-crit",
        title="ProxyShell success",
        severity=pb.SEVERITY_CRITICAL,
        tags=["cve.2021-34473"],
    )
    [cand] = candidates_for("t", "a", "h", event)
    assert cand.opens
    assert cand.rule == "r-crit"
    assert cand.severity == pb.SEVERITY_CRITICAL
    assert cand.tags == ("cve.2021-34473",)
    assert cand.details["rules"] == "r-low,r-medium,r-crit"


def test_burst_of_clean_pages_is_a_low_mass_change() -> None:
    event = file_event(r"C:\x\owa\auth\15.2.1\a.aspx", burst=500, root=r"C:\x\owa\auth")
    [cand] = candidates_for("t", "a", "h", event)
    assert cand.rule == "exwatch.webroot.mass_change"
    assert cand.severity == pb.SEVERITY_LOW
    assert not cand.incident
    event.file.verdict = pb.VERDICT_MALICIOUS  # a shell inside the burst still stands out
    [bad] = candidates_for("t", "a", "h", event)
    assert bad.incident
    assert bad.severity == pb.SEVERITY_CRITICAL


def test_sensor_events() -> None:
    shed = pb.Event(id="s", sensor=pb.SensorEvent(sensor="spool", kind="events_shed", count=3))
    [cand] = candidates_for("t", "a", "h", shed)
    assert cand.rule == "exwatch.sensor.events_shed"
    assert not cand.incident
    base = pb.Event(id="b", sensor=pb.SensorEvent(sensor="webroot", kind="baseline"))
    assert candidates_for("t", "a", "h", base) == []
