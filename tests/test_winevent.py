"""Windows event XML: parse, map to rule records, refuse hostile XML, live-source logic."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import pytest

from agent.detection import Detection, Severity
from agent.errors import AgentError
from agent.platform.windows_events import EventLogUnavailable, Subscription
from agent.sources.processes import PROCESS_FIELDS
from agent.winevent.mapping import (
    APPLICATION,
    MSEXCHANGE_MANAGEMENT,
    PROCESS_CREATION,
    is_um_invalid_cast,
    map_event,
)
from agent.winevent.source import (
    DEFAULT_CHANNELS,
    BookmarkStore,
    ChannelQuery,
    EventLogSource,
    event_from_xml,
)
from agent.winevent.xml import EventXmlError, parse_event_xml, parse_system_time
from protos import exwatch_pb2 as pb

DATA = Path(__file__).parent / "data" / "winevent"
CHOPPER = r'cmd /c cd /d "C:\inetpub\wwwroot\aspnet_client"&whoami&echo [S]&cd&echo [E]'


def sample(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- parsing


def test_parse_system_and_named_data() -> None:
    ev = parse_event_xml(sample("security_4688_chopper.xml"))
    assert ev.provider == "Microsoft-Windows-Security-Auditing"
    assert ev.event_id == 4688
    assert ev.level == 0
    assert ev.time_created == "2021-03-03T04:12:55.4718330Z"
    assert ev.computer == "EXCH01.corp.local"
    assert ev.channel == "Security"
    assert ev.record_id == 1184412
    assert ev.data["CommandLine"] == CHOPPER  # &amp; decoded
    assert ev.data["NewProcessName"] == r"C:\Windows\System32\cmd.exe"
    f = ev.fields
    assert f["EventID"] == "4688"
    assert f["Provider_Name"] == "Microsoft-Windows-Security-Auditing"
    assert f["Channel"] == "Security"
    assert f["EventRecordID"] == "1184412"
    assert CHOPPER in f["Data"]


def test_parse_unnamed_data_items_and_qualifiers() -> None:
    ev = parse_event_xml(sample("msexchange_management_1.xml"))
    assert ev.event_id == 1  # Qualifiers attribute does not leak into the id
    assert ev.data["Data1"] == "New-MailboxExportRequest"
    assert ev.data["Data2"].startswith('-Mailbox "admin" -FilePath "\\\\localhost\\c$')
    assert ev.data["Data8"] == ""
    assert "Data10" not in ev.data
    # Joined text skips empty items and keeps order.
    assert ev.fields["Data"].splitlines()[0] == "New-MailboxExportRequest"


def test_parse_rendering_info_message_and_declaration() -> None:
    ev = parse_event_xml(sample("msexchange_management_6_rendered.xml"))
    assert ev.message.startswith("Cmdlet failed. Cmdlet Remove-MailboxExportRequest")
    assert ev.fields["Message"] == ev.message
    ev = parse_event_xml(sample("sysmon_1_chopper.xml"))  # has an <?xml ...?> declaration
    assert ev.data["Product"] == "Microsoft® Windows® Operating System"
    # bytes in, as read from a file, work too
    assert parse_event_xml(sample("sysmon_1_chopper.xml").encode()).record_id == 90211


def test_user_data_leaves() -> None:
    xml = (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="Microsoft-Windows-Eventlog"/><EventID>1102</EventID>'
        "<Channel>Security</Channel></System><UserData>"
        '<LogFileCleared xmlns="http://manifests.microsoft.com/win/2004/08/windows/eventlog">'
        "<SubjectUserName>attacker</SubjectUserName></LogFileCleared></UserData></Event>"
    )
    assert parse_event_xml(xml).data == {"SubjectUserName": "attacker"}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2021-03-03T04:12:55.4718330Z", 1614744775_471833000),
        ("2021-03-03 04:12:55.470", 1614744775_470000000),
        ("2021-03-03T04:12:55Z", 1614744775_000000000),
        ("", None),
        ("yesterday", None),
        ("2021-13-03T04:12:55Z", None),
    ],
)
def test_parse_system_time(text: str, want: int | None) -> None:
    assert parse_system_time(text) == want


# ---------------------------------------------------------------- hostile and malformed

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE Event [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>
<EventID>1</EventID></System><EventData><Data>&lol9;</Data></EventData></Event>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE Event [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>
<EventID>1</EventID></System><EventData><Data>&xxe;</Data></EventData></Event>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE Event SYSTEM "http://127.0.0.1:9/evil.dtd">
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>
<EventID>1</EventID></System></Event>"""


@pytest.mark.parametrize(
    "xml", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"]
)
def test_hostile_xml_refused(xml: str) -> None:
    with pytest.raises(EventXmlError, match="refused: a DOCTYPE"):
        parse_event_xml(xml)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("", "malformed"),
        ("<Event><System>", "malformed"),
        ("not xml at all", "malformed"),
        ("<Events/>", "root element is <Events>"),
        ("<Event/>", "no <System>"),
        ("<Event><System><EventID>four</EventID></System></Event>", "EventID is not a number"),
        ("<a>" * 40 + "</a>" * 40, "nested deeper"),
        ("<Event>" + "x" * (1024 * 1024) + "</Event>", "limit"),
    ],
)
def test_malformed_xml_clear_error(xml: str, message: str) -> None:
    with pytest.raises(EventXmlError, match=message):
        parse_event_xml(xml)
    assert issubclass(EventXmlError, AgentError)


# ---------------------------------------------------------------- mapping


def test_sysmon_1_maps_to_process_fields() -> None:
    mapped = map_event(parse_event_xml(sample("sysmon_1_chopper.xml")))
    assert mapped is not None and mapped.logsource == PROCESS_CREATION
    f = mapped.fields
    assert set(f) == set(PROCESS_FIELDS)
    assert f["Image"] == r"C:\Windows\System32\cmd.exe"
    assert f["OriginalFileName"] == "Cmd.Exe"
    assert f["CommandLine"] == CHOPPER
    assert f["ParentImage"] == r"C:\Windows\System32\inetsrv\w3wp.exe"
    assert f["ParentCommandLine"].startswith(r'c:\windows\system32\inetsrv\w3wp.exe -ap "MSExch')
    assert f["User"] == "NT AUTHORITY\\SYSTEM"
    assert f["CurrentDirectory"] == "C:\\Windows\\system32\\"
    assert f["AppPool"] == "MSExchangeOWAAppPool"
    assert f["ProcessId"] == "7996" and f["ParentProcessId"] == "8564"
    p = mapped.process
    assert p is not None
    assert (p.pid, p.name, p.exe) == (7996, "cmd.exe", r"C:\Windows\System32\cmd.exe")
    assert p.start_time_ns == 1614744775_470000000  # UtcTime, not the log time
    assert [(a.pid, a.name) for a in p.ancestors] == [
        (8564, r"C:\Windows\System32\inetsrv\w3wp.exe")
    ]


def test_security_4688_maps_to_the_same_fields() -> None:
    mapped = map_event(parse_event_xml(sample("security_4688_chopper.xml")))
    assert mapped is not None and mapped.logsource == PROCESS_CREATION
    f = mapped.fields
    assert set(f) == set(PROCESS_FIELDS)
    assert f["Image"] == r"C:\Windows\System32\cmd.exe"
    assert f["CommandLine"] == CHOPPER
    assert f["ParentImage"] == r"C:\Windows\System32\inetsrv\w3wp.exe"
    assert f["ParentCommandLine"] == ""  # 4688 does not record it
    assert f["User"] == "NT AUTHORITY\\SYSTEM"  # S-1-5-18, not CORP\EXCH01$
    assert f["ProcessId"] == str(0x1F3C) and f["ParentProcessId"] == str(0x2174)
    sysmon = map_event(parse_event_xml(sample("sysmon_1_chopper.xml")))
    assert sysmon is not None
    shared = ("Image", "CommandLine", "ParentImage", "User")
    assert {k: f[k] for k in shared} == {k: sysmon.fields[k] for k in shared}


def test_4688_user_prefers_target_account() -> None:
    xml = (
        sample("security_4688_chopper.xml")
        .replace(
            '<Data Name="TargetUserName">-</Data><Data Name="TargetDomainName">-</Data>',
            '<Data Name="TargetUserName">svc-web</Data><Data Name="TargetDomainName">CORP</Data>',
        )
        .replace('"TargetUserSid">S-1-0-0<', '"TargetUserSid">S-1-5-21-1-2-3-1105<')
    )
    mapped = map_event(parse_event_xml(xml))
    assert mapped is not None and mapped.fields["User"] == "CORP\\svc-web"


def test_um_invalid_cast_maps_to_application() -> None:
    ev = parse_event_xml(sample("um_invalid_cast.xml"))
    assert is_um_invalid_cast(ev)
    mapped = map_event(ev)
    assert mapped is not None and mapped.logsource == APPLICATION
    assert mapped.fields["Provider_Name"] == "MSExchange Unified Messaging"
    assert mapped.fields["Level"] == "2"
    assert "System.InvalidCastException" in mapped.fields["Data"]
    assert mapped.process is None
    # The same text at information level, or from another provider, is not the sign.
    assert not is_um_invalid_cast(
        parse_event_xml(
            sample("um_invalid_cast.xml").replace("<Level>2</Level>", "<Level>4</Level>")
        )
    )
    assert not is_um_invalid_cast(
        parse_event_xml(
            sample("um_invalid_cast.xml").replace(
                "MSExchange Unified Messaging", "MSExchange Common"
            )
        )
    )


def test_management_event_1_from_data_items() -> None:
    mapped = map_event(parse_event_xml(sample("msexchange_management_1.xml")))
    assert mapped is not None and mapped.logsource == MSEXCHANGE_MANAGEMENT
    f = mapped.fields
    assert f["Cmdlet"] == "New-MailboxExportRequest"
    assert f["Parameters"] == (
        '-Mailbox "admin" -FilePath "\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx"'
    )
    assert (
        f["Data"]
        == f["Message"]
        == ("Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters " + f["Parameters"])
    )


def test_management_event_6_from_rendered_message() -> None:
    mapped = map_event(parse_event_xml(sample("msexchange_management_6_rendered.xml")))
    assert mapped is not None and mapped.logsource == MSEXCHANGE_MANAGEMENT
    f = mapped.fields
    assert f["Cmdlet"] == "Remove-MailboxExportRequest"
    assert f["Parameters"] == '-Identity "admin\\MailboxExport" -Confirm:$False'
    assert f["Data"].startswith("Cmdlet failed. Cmdlet Remove-MailboxExportRequest, parameters")


def test_unread_events_are_not_mapped() -> None:
    assert map_event(parse_event_xml(sample("security_4624.xml"))) is None


# ---------------------------------------------------------------- wire events


def test_event_from_xml_process_and_log_records() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def detect(logsource: str, fields: Mapping[str, str]) -> list[Detection]:
        seen.append((logsource, dict(fields)))
        if "&whoami&echo" in fields.get("CommandLine", ""):
            return [Detection("t-chopper", "Chopper", Severity.HIGH, ("attack.t1505.003",))]
        return []

    proc = event_from_xml(sample("sysmon_1_chopper.xml"), detect)
    assert proc is not None and proc.WhichOneof("body") == "process"
    assert proc.process.cmdline == CHOPPER
    assert [m.rule_id for m in proc.matches] == ["t-chopper"]
    assert proc.matches[0].severity == pb.SEVERITY_HIGH

    log = event_from_xml(sample("msexchange_management_1.xml"), detect)
    assert log is not None and log.WhichOneof("body") == "log"
    assert (log.log.source, log.log.file, log.log.line) == (
        "eventlog",
        "MSExchange Management",
        70512,
    )
    assert log.log.fields["Cmdlet"] == "New-MailboxExportRequest"
    assert [s[0] for s in seen] == [PROCESS_CREATION, MSEXCHANGE_MANAGEMENT]
    assert event_from_xml(sample("security_4624.xml"), detect) is None


# ---------------------------------------------------------------- live source (fake API)


def test_live_source_needs_windows(tmp_path: Path) -> None:
    if sys.platform == "win32":
        pytest.skip("this host has the Windows Event Log")
    with pytest.raises(EventLogUnavailable, match="needs Windows") as info:
        EventLogSource(lambda events: None, bookmarks_path=tmp_path / "bm.json")
    assert isinstance(info.value, AgentError)


class FakeSubscription:
    """Stands in for a Windows subscription: the one thing that cannot exist here."""

    def __init__(self, channel: str, batches: list[list[str]]) -> None:
        self.channel = channel
        self.batches = batches
        self.served = 0
        self.closed = False

    def next_batch(self, max_events: int) -> tuple[list[str], str]:
        if not self.batches:
            return [], ""
        batch = self.batches.pop(0)[:max_events]
        self.served += len(batch)
        return batch, f"<BookmarkList><Bookmark Channel='{self.channel}' N='{self.served}'/>"

    def close(self) -> None:
        self.closed = True


class FakeApi:
    def __init__(self, feeds: dict[str, list[list[str]]], refuse: Collection[str] = ()) -> None:
        self.feeds = feeds
        self.refuse = refuse
        self.calls: list[tuple[str, str, str | None]] = []
        self.subs: list[FakeSubscription] = []
        self.waited = threading.Event()

    def subscribe(
        self, channel: str, xpath: str, bookmark_xml: str | None, *, from_oldest: bool
    ) -> Subscription:
        self.calls.append((channel, xpath, bookmark_xml))
        if channel in self.refuse:
            raise OSError(f"The specified channel could not be found: {channel}")
        sub = FakeSubscription(channel, self.feeds.get(channel, []))
        self.subs.append(sub)
        return sub

    def wait_any(self, subscriptions: Sequence[Subscription], timeout: float) -> None:
        self.waited.set()
        threading.Event().wait(min(timeout, 0.01))


def test_source_drains_emits_and_persists_bookmarks(tmp_path: Path) -> None:
    feeds = {
        "Security": [[sample("security_4688_chopper.xml"), sample("security_4624.xml")]],
        "MSExchange Management": [[sample("msexchange_management_1.xml"), "<Event><broken"]],
    }
    api = FakeApi(feeds, refuse={"Microsoft-Windows-Sysmon/Operational"})
    batches: list[list[pb.Event]] = []
    bookmarks = tmp_path / "state" / "eventlog-bookmarks.json"
    source = EventLogSource(batches.append, bookmarks_path=bookmarks, api=api)
    source.start()
    try:
        assert api.waited.wait(5)
        while not all(not s.batches for s in api.subs):
            api.waited.clear()
            assert api.waited.wait(5)
    finally:
        source.stop()
    emitted = [e for batch in batches for e in batch]
    assert [e.WhichOneof("body") for e in emitted] == ["process", "log"]
    assert source.stats.events == 4
    assert source.stats.ignored == 1 and source.stats.malformed == 1
    assert [c[0] for c in api.calls] == [q.channel for q in DEFAULT_CHANNELS]
    assert all(s.closed for s in api.subs)
    saved = json.loads(bookmarks.read_text())
    assert set(saved) == {"Security", "MSExchange Management"}
    status = source.sensor_status()
    assert status.state == pb.SENSOR_STATE_DEGRADED
    assert "Microsoft-Windows-Sysmon/Operational: cannot subscribe" in status.detail

    # A restart resumes after the saved bookmark.
    api2 = FakeApi({})
    source2 = EventLogSource(batches.append, bookmarks_path=bookmarks, api=api2)
    source2.start()
    source2.stop()
    resumed = {c[0]: c[2] for c in api2.calls}
    assert resumed["Security"] == saved["Security"]
    assert resumed["Application"] is None


def test_failed_emit_keeps_the_bookmark(tmp_path: Path) -> None:
    def refuse(events: list[pb.Event]) -> None:
        raise RuntimeError("spool full")

    api = FakeApi({})
    bookmarks = tmp_path / "bm.json"
    source = EventLogSource(
        refuse, bookmarks_path=bookmarks, api=api, channels=[ChannelQuery("Security")]
    )
    sub = FakeSubscription("Security", [[sample("security_4688_chopper.xml")]])
    assert source.drain_once(sub) is True
    assert source.stats.emit_errors == 1
    assert not bookmarks.exists()  # read again after a restart, never skipped
    assert source.drain_once(sub) is False


def test_detect_failure_keeps_event(tmp_path: Path) -> None:
    def broken(logsource: str, fields: Mapping[str, str]) -> list[Detection]:
        raise ValueError(f"unknown logsource {logsource!r}")

    got: list[pb.Event] = []
    source = EventLogSource(
        got.extend, bookmarks_path=tmp_path / "bm.json", api=FakeApi({}), detect=broken
    )
    sub = FakeSubscription("Application", [[sample("um_invalid_cast.xml")] * 3])
    source.drain_once(sub)
    assert len(got) == 3 and source.stats.detect_errors == 3
    assert all(not e.matches for e in got)


def test_stale_bookmark_falls_back(tmp_path: Path) -> None:
    bookmarks = tmp_path / "bm.json"
    bookmarks.write_text(json.dumps({"Security": "<BookmarkList/>"}))

    class Picky(FakeApi):
        def subscribe(
            self, channel: str, xpath: str, bookmark_xml: str | None, *, from_oldest: bool
        ) -> Subscription:
            if bookmark_xml is not None:
                self.calls.append((channel, xpath, bookmark_xml))
                raise OSError("The bookmark is not valid")
            return super().subscribe(channel, xpath, bookmark_xml, from_oldest=from_oldest)

    api = Picky({})
    source = EventLogSource(
        lambda e: None, bookmarks_path=bookmarks, api=api, channels=[ChannelQuery("Security")]
    )
    source.start()
    source.stop()
    assert [c[2] for c in api.calls] == ["<BookmarkList/>", None]
    assert source.sensor_status().state == pb.SENSOR_STATE_OK


def test_bookmark_store_survives_garbage(tmp_path: Path) -> None:
    path = tmp_path / "bm.json"
    path.write_bytes(b"\x00\xff not json")
    store = BookmarkStore(path)
    assert store.get("Security") is None
    store.set("Security", "<BookmarkList/>")
    store.save()
    assert BookmarkStore(path).get("Security") == "<BookmarkList/>"
    assert not path.with_name("bm.json.tmp").exists()
