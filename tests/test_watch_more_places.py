"""Beyond the web roots: staging folders (archives, LSASS dumps), IIS's configuration and
ASP.NET's compiled pages, and hidden pages."""

from __future__ import annotations

from pathlib import Path

from test_webroot_monitor import Harness

from agent.config import AgentConfig
from agent.content import ContentScanner, Verdict
from agent.layout import default_other_roots, watched_roots
from collector.alerting.candidates import candidates_for
from protos import exwatch_pb2 as pb

APPHOST = """<?xml version="1.0" encoding="UTF-8"?>
<configuration>
  <system.applicationHost>
    <sites>
      <site name="Default Web Site" id="1">
        <application path="/" applicationPool="DefaultAppPool">
          <virtualDirectory path="/" physicalPath="%SystemDrive%\\inetpub\\wwwroot" />
        </application>
        <application path="/owa" applicationPool="MSExchangeOWAAppPool">
          <virtualDirectory path="/" physicalPath="C:\\Program Files\\Exchange\\owa" />
          <virtualDirectory path="/zoo" physicalPath="{target}" />
        </application>
      </site>
    </sites>
  </system.applicationHost>
</configuration>
"""


def test_default_roots_cover_staging_config_and_compiled_pages(tmp_path: Path) -> None:
    framework = tmp_path / "Windows/Microsoft.NET/Framework64/v4.0.30319/Temporary ASP.NET Files"
    framework.mkdir(parents=True)
    roots = {(r.kind, r.path) for r in default_other_roots(tmp_path)}
    assert ("staging", tmp_path / "ProgramData") in roots
    assert ("staging", tmp_path / "Windows/Temp") in roots
    assert ("config", tmp_path / "Windows/System32/inetsrv/config") in roots
    assert ("compiled", framework) in roots
    kinds = {r.kind for r in watched_roots(AgentConfig().with_root(tmp_path))}
    assert kinds == {"webroot", "staging", "config", "compiled"}


def test_staging_root_reports_only_archives_and_dumps_at_its_top(tmp_path: Path) -> None:
    staging = tmp_path / "ProgramData"
    (staging / "Microsoft").mkdir(parents=True)
    [root] = [r for r in default_other_roots(tmp_path) if r.path == staging]
    h = Harness(tmp_path, staging, root, settle_seconds=0.1)
    try:
        (staging / "notes.txt").write_text("ignored")
        (staging / "Microsoft" / "deep.zip").write_bytes(b"PK deep: not at the top")
        (staging / "lsass.dmp").write_bytes(b"MDMP")
        (staging / "pst.7z").write_bytes(b"7z")
        h.wait_for(lambda: len(h.files()) >= 2)
        h.quiet()
        assert sorted(Path(f.path).name for f in h.files()) == ["lsass.dmp", "pst.7z"]
        assert {f.root_kind for f in h.files()} == {"staging"}
    finally:
        h.stop()


def file_event(path: str, kind: str, **kw) -> pb.Event:
    return pb.Event(
        id="e",
        host_time_ns=1,
        file=pb.FileEvent(
            action=pb.FILE_ACTION_CREATED, path=path, root_kind=kind, sha256="a" * 64, **kw
        ),
    )


def test_lsass_dump_opens_an_incident_archive_only_joins() -> None:
    [dump] = candidates_for("t", "a", "h", file_event(r"C:\\ProgramData\\lsass.dmp", "staging"))
    assert (dump.severity, dump.opens, dump.incident) == (pb.SEVERITY_CRITICAL, True, True)
    assert "attack.t1003.001" in dump.tags
    [archive] = candidates_for("t", "a", "h", file_event(r"C:\\ProgramData\\mail.7z", "staging"))
    assert (archive.severity, archive.opens) == (pb.SEVERITY_MEDIUM, False)
    [dll] = candidates_for("t", "a", "h", file_event(r"C:\\T\\App_Web_x.dll", "compiled"))
    assert dll.opens is False


def test_hidden_system_page_is_critical() -> None:
    [plain] = candidates_for(
        "t", "a", "h", file_event(r"C:\\inetpub\\wwwroot\\aspnet_client\\a.aspx", "webroot")
    )
    [hidden] = candidates_for(
        "t",
        "a",
        "h",
        file_event(
            r"C:\\inetpub\\wwwroot\\aspnet_client\\a.aspx", "webroot", attributes=0x2 | 0x4 | 0x20
        ),
    )
    assert plain.severity == pb.SEVERITY_HIGH
    assert hidden.severity == pb.SEVERITY_CRITICAL


def test_virtual_directory_into_programdata_is_flagged() -> None:
    scanner = ContentScanner.load()
    bad = scanner.scan_bytes(
        APPHOST.replace("{target}", "C:\\ProgramData\\COM").encode(), path="applicationHost.config"
    )
    assert bad.verdict is Verdict.MALICIOUS
    assert "exw.iis.vdir_programdata" in bad.rule_ids
    good = scanner.scan_bytes(
        APPHOST.replace("{target}", "D:\\Sites\\zoo").encode(), path="applicationHost.config"
    )
    assert good.verdict is Verdict.CLEAN
