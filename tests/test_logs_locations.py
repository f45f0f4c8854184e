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


def test_discover_lists_oldest_first(tmp_path: Path) -> None:
    for i, name in enumerate(["u_ex260103.log", "u_ex260101.log", "u_ex260102.log"]):
        p = tmp_path / name
        p.write_text("x")
        os.utime(p, (1000 + i, 1000 + i))
    assert [p.name for p in discover([str(tmp_path / "u_ex*.log")])] == [
        "u_ex260103.log",
        "u_ex260101.log",
        "u_ex260102.log",
    ]
