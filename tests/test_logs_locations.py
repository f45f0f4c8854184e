from __future__ import annotations

import os
from pathlib import Path

from agent.logs.formats import LogFormat
from agent.logs.locations import default_log_globs, discover


def test_default_globs_find_every_log_of_a_demo_server(tmp_path: Path) -> None:
    ex = tmp_path / "Program Files/Microsoft/Exchange Server/V15"
    files = {
        LogFormat.IIS: tmp_path / "inetpub/logs/LogFiles/W3SVC2/u_ex260101.log",
        LogFormat.HTTPPROXY: ex / "Logging/HttpProxy/Ecp/HttpProxy_2026010110-1.LOG",
        LogFormat.ECP: ex / "Logging/ECP/Server/ECPServer2026010110-1.LOG",
        LogFormat.OAB: ex / "Logging/OABGeneratorLog/OABGenerator_2026.LOG",
        LogFormat.RPS_HTTP: ex
        / "Logging/CmdletInfra/Powershell-Proxy/Http/Rps_Http_2026010110-1.LOG",
        LogFormat.CMDLET: ex
        / "Logging/CmdletInfra/Powershell-Proxy/Cmdlet/Rps_Cmdlet_2026010110-1.LOG",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#\n")
    globs = default_log_globs(ex, tmp_path / "inetpub")
    for fmt, path in files.items():
        assert discover(globs[fmt]) == [path], fmt


def test_discover_orders_by_the_date_in_the_name_not_mtime(tmp_path: Path) -> None:
    for i, name in enumerate(["u_ex260103.log", "u_ex260101.log", "u_ex251231.log"]):
        p = tmp_path / name
        p.write_text("x")
        os.utime(p, (1000 - i, 1000 - i))  # mtimes say the opposite (restored from backup)
    assert [p.name for p in discover([str(tmp_path / "u_ex*.log")])] == [
        "u_ex251231.log",
        "u_ex260101.log",
        "u_ex260103.log",
    ]


def test_httpproxy_sequence_numbers_sort_numerically(tmp_path: Path) -> None:
    names = ["HttpProxy_2026010110-10.LOG", "HttpProxy_2026010110-9.LOG",
             "HttpProxy_2026010109-2.LOG", "HttpProxy_2026010111-1.LOG"]  # fmt: skip
    for name in names:
        (tmp_path / name).write_text("x")
    assert [p.name for p in discover([str(tmp_path / "HttpProxy_*.LOG")])] == [
        "HttpProxy_2026010109-2.LOG",
        "HttpProxy_2026010110-9.LOG",
        "HttpProxy_2026010110-10.LOG",
        "HttpProxy_2026010111-1.LOG",
    ]


def test_iis_hourly_names_sort_between_daily_ones(tmp_path: Path) -> None:
    for name in ["u_ex26010213.log", "u_ex260101.log", "u_ex26010209.log"]:
        (tmp_path / name).write_text("x")
    assert [p.name for p in discover([str(tmp_path / "u_ex*.log")])] == [
        "u_ex260101.log",
        "u_ex26010209.log",
        "u_ex26010213.log",
    ]


def test_matching_ignores_case_in_folders_and_names(tmp_path: Path) -> None:
    ex = tmp_path / "Program Files/Microsoft/Exchange Server/V15"
    odd = ex / "LOGGING/httpproxy/OWA/httpproxy_2026010110-1.log"
    odd.parent.mkdir(parents=True)
    odd.write_text("#\n")
    iis = tmp_path / "inetpub/LOGS/logfiles/w3svc1/U_EX260101.LOG"
    iis.parent.mkdir(parents=True)
    iis.write_text("#\n")
    globs = default_log_globs(ex, tmp_path / "inetpub")
    assert discover(globs[LogFormat.HTTPPROXY]) == [odd]
    assert discover(globs[LogFormat.IIS]) == [iis]


def test_oab_logs_are_found_at_any_depth_and_folders_are_not_files(tmp_path: Path) -> None:
    ex = tmp_path / "V15"
    top = ex / "Logging/OABGeneratorLog/OABGenerator_20260101-1.LOG"
    deep = ex / "Logging/OABGeneratorLog/sub/deeper/OABGenerator_20260102-1.LOG"
    deep.parent.mkdir(parents=True)
    (ex / "Logging/OABGeneratorLog/folder.LOG").mkdir()
    top.write_text("x")
    deep.write_text("x")
    assert discover(default_log_globs(ex, tmp_path / "inetpub")[LogFormat.OAB]) == [top, deep]


def test_missing_folders_find_nothing(tmp_path: Path) -> None:
    globs = default_log_globs(tmp_path / "nowhere", tmp_path / "nothing")
    assert all(discover(g) == [] for g in globs.values())


def test_names_without_a_date_fall_back_to_mtime(tmp_path: Path) -> None:
    for i, name in enumerate(["b.LOG", "a.LOG"]):
        p = tmp_path / name
        p.write_text("x")
        os.utime(p, (86400 * (i + 1), 86400 * (i + 1)))
    assert [p.name for p in discover([str(tmp_path / "*.LOG")])] == ["b.LOG", "a.LOG"]
