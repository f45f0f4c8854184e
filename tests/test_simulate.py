"""The attack simulator writes each chain's traces, inertly, and never into a real install."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.errors import AgentError
from agent.simulate import CHAINS, EXCHANGE, SimulationRefused, simulate, simulate_command


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_chain_writes_logs_with_headers_and_an_inert_page(tmp_path: Path, chain: str) -> None:
    written = simulate(tmp_path, chain)
    pages = [p for p in written if p.endswith((".aspx", ".ashx"))]
    logs = [p for p in written if p.lower().endswith(".log")]
    assert pages and logs
    for rel in set(logs):
        text = (tmp_path / rel).read_bytes().decode("utf-8")
        assert text.startswith("#Software: Microsoft")
        assert "#Fields: " in text
        assert text.endswith("\r\n")
    for rel in pages:
        content = (tmp_path / rel).read_bytes()
        # everything that looks like code sits inside one server-side comment
        body = content.split(b"<%-- ", 1)[1]
        assert body.rstrip().endswith(b"--%>")
        outside = re.sub(rb"<%--.*?--%>", b"", content, flags=re.S)
        assert b"eval" not in outside and b"Request" not in outside


def test_replaying_appends_to_the_same_logs(tmp_path: Path) -> None:
    first = simulate(tmp_path, "webshell")
    log = next(p for p in first if p.endswith(".log"))
    before = (tmp_path / log).read_text().count("\n")
    simulate(tmp_path, "webshell")
    text = (tmp_path / log).read_text()
    assert text.count("#Fields:") == 1
    assert text.count("\n") > before


def test_refuses_a_real_install_unless_forced(tmp_path: Path) -> None:
    exsetup = tmp_path / EXCHANGE / "Bin" / "ExSetup.exe"
    exsetup.parent.mkdir(parents=True)
    exsetup.write_bytes(b"MZ")
    with pytest.raises(SimulationRefused, match="real Exchange"):
        simulate(tmp_path, "webshell")
    assert simulate(tmp_path, "webshell", force=True)
    with pytest.raises(AgentError, match="unknown chain"):
        simulate(tmp_path, "nosuch")


def test_cli_prints_steps_and_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(simulate_command, ["proxyshell", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "- Autodiscover SSRF" in result.output
    assert "shell-pst.aspx" in result.output
    shell = tmp_path / "inetpub/wwwroot/aspnet_client/shell-pst.aspx"
    assert shell.read_bytes().startswith(b"!BDN")
