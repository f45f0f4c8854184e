"""The README's run command works as written: collector, console and agent come up on the
demo tree, and the console answers."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO

from e2e.processes import wait_for

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_make_run_serves_the_demo_and_its_console(tmp_path: Path) -> None:
    grpc_port, console_port = free_port(), free_port()
    args = (
        f"--exit-after 10 --var {tmp_path / 'var'} --port {grpc_port} --console-port {console_port}"
    )
    out = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        ["make", "-s", "run", f"DEMO_ARGS={args}"], cwd=REPO, stdout=out, stderr=subprocess.STDOUT
    )
    try:

        def console_answers() -> bool:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{console_port}/login", timeout=2
                ) as r:
                    return r.status == 200 and b"password" in r.read().lower()
            except OSError:
                return False

        wait_for(console_answers, timeout=60, what="the console")
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        out.close()
    text = (tmp_path / "run.log").read_text()
    assert "exwatch demo is running" in text
    assert f"http://127.0.0.1:{console_port}" in text
    assert (tmp_path / "var" / "demo-admin.txt").exists()
    assert (tmp_path / "var" / "demo" / "inetpub" / "wwwroot" / "aspnet_client").is_dir()
