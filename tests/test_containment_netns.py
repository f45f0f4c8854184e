"""Containment on Linux, for real: nftables inside network namespaces made by the test.

A "host" namespace (the Exchange server, where the agent acts) and a "peer" namespace are
joined by a veth pair. The peer holds two addresses: one plays the collector, the other an
outsider. A TCP listener runs in each namespace; connections are tried from a chosen source
address. The agent side runs in the host namespace through tests/containment_helper.py.
Needs root, ``ip`` and ``nft`` (Debian package nftables): missing, the tests fail.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from protos import exwatch_pb2 as pb

REPO = Path(__file__).resolve().parent.parent
HOST_V4, COLLECTOR_V4, OUTSIDER_V4 = "10.77.0.1", "10.77.0.2", "10.77.0.3"
HOST_V6, COLLECTOR_V6, OUTSIDER_V6 = "fd77::1", "fd77::2", "fd77::3"
PORT = 8443

_LISTENER = """
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(64)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""

_CONNECT = """
import socket, sys
source, target, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in target else socket.AF_INET
s = socket.socket(family)
s.settimeout(0.7)
s.bind((source, 0))
try:
    s.connect((target, port))
except OSError:
    sys.exit(1)
"""


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done


@dataclass
class Net:
    host: str
    peer: str
    state: Path

    def can_connect(self, ns: str, source: str, target: str) -> bool:
        done = _run(
            "ip", "netns", "exec", ns, sys.executable, "-c", _CONNECT, source, target, str(PORT),
            check=False,
        )  # fmt: skip
        return done.returncode == 0

    def reaches_host(self, source: str) -> bool:
        target = HOST_V6 if ":" in source else HOST_V4
        return self.can_connect(self.peer, source, target)

    def host_reaches(self, target: str) -> bool:
        return self.can_connect(self.host, HOST_V6 if ":" in target else HOST_V4, target)

    def agent(
        self,
        command: pb.Command | None,
        *extra: str,
        prefix: tuple[str, ...] = (),
        seconds_per_minute: float = 60.0,
    ) -> dict[str, Any]:
        """Run one command (or ``--resume``) through the agent's handler in the host."""
        argv = [
            "ip", "netns", "exec", self.host, *prefix, sys.executable, "-m",
            "tests.containment_helper", "--state", str(self.state),
            "--collector", f"{COLLECTOR_V4}:50051",
            "--seconds-per-minute", str(seconds_per_minute), *extra,
        ]  # fmt: skip
        if command is not None:
            argv.append(command.SerializeToString().hex())
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def ruleset(self) -> str:
        return _run("ip", "netns", "exec", self.host, "nft", "list", "ruleset").stdout


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            pytest.fail(
                f"'{tool}' is not installed: these tests need it (apt-get install {package})"
            )
    tag = uuid.uuid4().hex[:6]
    host, peer = f"exw-h-{tag}", f"exw-p-{tag}"
    listeners: list[subprocess.Popen[str]] = []
    try:
        _run("ip", "netns", "add", host)
        _run("ip", "netns", "add", peer)
        _run("ip", "link", "add", f"vh{tag}", "netns", host, "type", "veth",
             "peer", "name", f"vp{tag}", "netns", peer)  # fmt: skip
        for ns, dev, addresses in (
            (host, f"vh{tag}", [f"{HOST_V4}/24", f"{HOST_V6}/64"]),
            (peer, f"vp{tag}", [f"{a}/{24 if '.' in a else 64}" for a in (
                COLLECTOR_V4, OUTSIDER_V4, COLLECTOR_V6, OUTSIDER_V6)]),
        ):  # fmt: skip
            for address in addresses:
                extra = ["nodad"] if ":" in address else []
                _run("ip", "-n", ns, "addr", "add", address, "dev", dev, *extra)
            _run("ip", "-n", ns, "link", "set", dev, "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        for ns in (host, peer):
            listener = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-c", _LISTENER, str(PORT)],
                stdout=subprocess.PIPE,
                text=True,
            )
            listeners.append(listener)
            assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        # Another table of the host's own, which containment must never touch.
        _run("ip", "netns", "exec", host, "nft", "add table inet hostown; "
             "add chain inet hostown keep { type filter hook input priority 10; }")  # fmt: skip
        state = tmp_path / "agent"
        state.mkdir()
        yield Net(host, peer, state)
    finally:
        for listener in listeners:
            listener.kill()
            listener.wait()
            if listener.stdout is not None:
                listener.stdout.close()
        for ns in (host, peer):
            _run("ip", "netns", "del", ns, check=False)


def _isolate(minutes: int, *allow: str) -> pb.Command:
    return pb.Command(id=uuid.uuid4().hex, isolate=pb.Isolate(allow=list(allow), minutes=minutes))


def _wait_until(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


def test_isolate_keeps_the_collector_and_cuts_the_outsider_until_release(net: Net) -> None:
    assert net.reaches_host(OUTSIDER_V4) and net.reaches_host(COLLECTOR_V4)
    other_table_before = net.ruleset().split("table inet exwatch")[0]

    command = _isolate(30)
    result = net.agent(command)
    assert result["ok"], result
    assert "isolated for 30 min" in result["detail"] and COLLECTOR_V4 in result["detail"]
    [audit] = result["actions"]
    assert (audit["action"], audit["command_id"], audit["ok"]) == ("isolate", command.id, True)

    assert not net.reaches_host(OUTSIDER_V4)
    assert not net.reaches_host(OUTSIDER_V6)
    assert net.reaches_host(COLLECTOR_V4)
    assert net.host_reaches(COLLECTOR_V4)
    assert not net.host_reaches(OUTSIDER_V4)
    assert net.can_connect(net.host, "127.0.0.1", "127.0.0.1")  # loopback stays

    release = net.agent(pb.Command(id="r1", release=pb.Release()))
    assert release["ok"] and release["detail"] == "isolation lifted", release
    assert net.reaches_host(OUTSIDER_V4) and net.reaches_host(OUTSIDER_V6)
    assert net.reaches_host(COLLECTOR_V4) and net.host_reaches(OUTSIDER_V4)
    assert net.ruleset().split("table inet exwatch")[0] == other_table_before


def test_management_and_command_networks_are_allowed_too(net: Net) -> None:
    result = net.agent(_isolate(5, f"{OUTSIDER_V6}/128"), "--management", f"{OUTSIDER_V4}/32")
    assert result["ok"], result
    assert net.reaches_host(OUTSIDER_V4) and net.reaches_host(OUTSIDER_V6)
    assert not net.reaches_host(COLLECTOR_V6)  # the collector is allowed by what it resolves to


def test_isolation_lifts_by_itself_when_the_agent_is_gone(net: Net) -> None:
    # One "minute" is 3 s here; the helper exits at once, as if the agent had died.
    assert net.agent(_isolate(1), seconds_per_minute=3)["ok"]
    assert not net.reaches_host(OUTSIDER_V4)
    assert _wait_until(lambda: net.reaches_host(OUTSIDER_V4), 8)
    # The agent, started again, notices the limit ran out and says so.
    resumed = net.agent(None, "--resume", seconds_per_minute=3)
    [audit] = resumed["actions"]
    assert audit["action"] == "isolate_expired" and audit["ok"], audit
    assert COLLECTOR_V4 not in net.ruleset()  # the allow list is tidied away as well


def test_the_agents_own_timer_lifts_and_audits(net: Net) -> None:
    result = net.agent(_isolate(1), "--wait", "4", seconds_per_minute=2)
    assert [a["action"] for a in result["actions"]] == ["isolate", "isolate_expired"]
    assert result["actions"][1]["ok"]
    assert net.reaches_host(OUTSIDER_V4)


def test_renewing_extends_the_time_limit(net: Net) -> None:
    assert net.agent(_isolate(1), seconds_per_minute=3)["ok"]
    time.sleep(2)
    assert net.agent(_isolate(2), seconds_per_minute=3)["ok"]  # now 6 s from here
    time.sleep(2)
    assert not net.reaches_host(OUTSIDER_V4)  # the first limit has passed; still isolated
    assert _wait_until(lambda: net.reaches_host(OUTSIDER_V4), 8)


def test_block_address_blocks_only_that_address(net: Net) -> None:
    for outsider in (OUTSIDER_V4, OUTSIDER_V6):
        block = pb.Command(id="b", block_address=pb.BlockAddress(address=outsider))
        result = net.agent(block)
        assert result["ok"] and result["detail"] == f"{outsider} blocked until unblocked", result
        assert result["actions"][0]["target"] == outsider
    assert not net.reaches_host(OUTSIDER_V4) and not net.reaches_host(OUTSIDER_V6)
    assert net.reaches_host(COLLECTOR_V4) and net.reaches_host(COLLECTOR_V6)

    unblock = pb.Command(id="u", unblock_address=pb.UnblockAddress(address=OUTSIDER_V4))
    assert net.agent(unblock)["ok"]
    assert net.reaches_host(OUTSIDER_V4) and not net.reaches_host(OUTSIDER_V6)


def test_block_with_a_time_limit_expires(net: Net) -> None:
    block = pb.Command(id="b", block_address=pb.BlockAddress(address=OUTSIDER_V4, minutes=1))
    assert net.agent(block, seconds_per_minute=2)["ok"]
    assert not net.reaches_host(OUTSIDER_V4)
    assert _wait_until(lambda: net.reaches_host(OUTSIDER_V4), 6)


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (_isolate(0), "needs a time limit"),
        (_isolate(5, "10.0.0.0/8"), "wider than /24"),
        (_isolate(5, "not-an-address"), "is not an IP address or CIDR network"),
        (_isolate(100000), "longer than the allowed 1440"),
        (pb.Command(block_address=pb.BlockAddress(address=COLLECTOR_V4)), "is the collector"),
        (pb.Command(block_address=pb.BlockAddress(address="10.77.0.0/24")), "not one IP address"),
        (pb.Command(block_address=pb.BlockAddress(address="127.0.0.1")), "not a client address"),
        (pb.Command(web_access=pb.WebAccess(offline=True, minutes=5)), "not supported on this"),
    ],
)
def test_refused_commands_change_nothing(net: Net, command: pb.Command, error: str) -> None:
    before = net.ruleset()
    result = net.agent(command)
    assert not result["ok"] and error in result["error"], result
    assert not result["actions"][0]["ok"] and error in result["actions"][0]["detail"]
    assert net.ruleset() == before
    assert net.reaches_host(OUTSIDER_V4)


def test_without_privilege_the_error_is_clear_and_nothing_changes(net: Net) -> None:
    assert net.agent(pb.Command(block_address=pb.BlockAddress(address=OUTSIDER_V6)))["ok"]
    before = net.ruleset()
    unprivileged = ("setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin",
                    "--no-new-privs", "--")  # fmt: skip
    result = net.agent(_isolate(5), prefix=unprivileged)
    assert not result["ok"]
    assert "needs root or CAP_NET_ADMIN" in result["error"] and "nothing changed" in result["error"]
    assert net.ruleset() == before
    assert net.reaches_host(OUTSIDER_V4)


# ---------------------------------------------------------------- the whole chain


class NsProcess:
    """A real collector or agent process inside a namespace, its output in a file."""

    def __init__(self, ns: str, args: list[str], log: Path) -> None:
        self.log = log
        self._fh = log.open("ab")
        self.popen = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, *args],
            cwd=REPO,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()  # "ip netns exec" execs: this is the Python process
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._fh.close()


def _collector_cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "collector", *args, "--data-dir", str(data_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.e2e
def test_isolation_from_the_collector_with_approval_end_to_end(net: Net, tmp_path: Path) -> None:
    """Collector and agent run in the host namespace (the agent streams over loopback, which
    an isolation keeps; the peer's "collector" address plays a management host here); the
    collector's CLI asks, a second analyst approves, the agent isolates the host for real
    and confirms, then releases."""
    data = tmp_path / "collector"
    data.mkdir()
    serve = ["-m", "collector", "serve", "--insecure-loopback", "--listen", "127.0.0.1:0",
             "--console-listen", "", "--data-dir", str(data)]  # fmt: skip
    collector = NsProcess(net.host, serve, tmp_path / "collector.log")
    agent: NsProcess | None = None
    try:
        assert _wait_until(lambda: "listening on 127.0.0.1:" in collector.output(), 30)
        port = collector.output().split("listening on 127.0.0.1:")[1].split()[0]
        (tmp_path / "drive").mkdir()
        agent = NsProcess(net.host, ["-m", "agent", "run", "--root", str(tmp_path / "drive"),
                                     "--data-dir", str(tmp_path / "agent"), "--collector",
                                     f"127.0.0.1:{port}", "--insecure-loopback"],
                          tmp_path / "agent.log")  # fmt: skip
        assert _wait_until(lambda: "connected to" in agent.output(), 30), agent.output()
        [host] = json.loads(_collector_cli(data, "agent", "list", "--format", "json"))

        def commands() -> list[dict[str, str]]:
            rows: list[dict[str, str]] = json.loads(
                _collector_cli(data, "commands", "--format", "json")
            )
            return rows

        _collector_cli(data, "contain", "policy", host["tenant"], "--require", "isolate")
        isolate = ["contain", "isolate", host["id"], "--minutes", "10", "--allow", COLLECTOR_V4,
                   "--by", "alice", "--reason", "webshell"]  # fmt: skip
        out = _collector_cli(data, *isolate)
        command_id = out.split("as command ")[1].split()[0]
        time.sleep(2)  # the collector polls commands every second: nothing may go out
        assert commands() == [] and net.reaches_host(OUTSIDER_V4)
        _collector_cli(data, "contain", "approve", command_id, "--by", "bob")
        assert _wait_until(lambda: [c["status"] for c in commands()] == ["done"], 30)
        [done] = commands()
        assert done["id"] == command_id and "isolated for 10 min" in done["result"]
        assert not net.reaches_host(OUTSIDER_V4) and net.reaches_host(COLLECTOR_V4)

        _collector_cli(data, "contain", "release", host["id"], "--by", "alice")
        assert _wait_until(lambda: [c["status"] for c in commands()] == ["done", "done"], 30)
        assert net.reaches_host(OUTSIDER_V4)

        def audited() -> list[str]:  # the agent's own ActionEvents, as the collector stored them
            with sqlite3.connect(data / "exwatch.db") as conn:
                rows = conn.execute(
                    "SELECT summary FROM events WHERE kind = 'action' ORDER BY rowid"
                )
                return [r[0].split()[0] for r in rows]

        assert _wait_until(lambda: audited() == ["isolate", "release"], 30), audited()
    finally:
        if agent is not None:
            agent.stop()
        collector.stop()
