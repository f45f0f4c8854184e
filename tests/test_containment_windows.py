"""The Windows containment backends, by what they would run: the firewall rules' remote
addresses, the PowerShell scripts and the appcmd command lines (Windows itself is absent)."""

from __future__ import annotations

import ipaddress
import itertools
import random
import re
import time
from pathlib import Path

import pytest

from agent.platform.firewall_windows import (
    ISOLATE_GROUP,
    WindowsFirewall,
    everything_but,
)
from agent.platform.iis_windows import WEB_POOLS, IisWebFrontEnds, pool_commands
from agent.platform.windows_commands import schedule_once
from agent.respond.containment import (
    Containment,
    ContainmentError,
    ContainmentPolicy,
)
from protos import exwatch_pb2 as pb

APPCMD = r"C:\Windows\System32\inetsrv\appcmd.exe"


class Recorder:
    """Stands in for running powershell.exe: keeps each command line."""

    def __init__(self, fail: str = "") -> None:
        self.lines: list[list[str]] = []
        self.fail = fail

    def __call__(self, argv: list[str]) -> None:
        self.lines.append(argv)
        if self.fail:
            raise ContainmentError(self.fail)

    @property
    def scripts(self) -> list[str]:
        return [argv[-1] for argv in self.lines]


def test_isolation_blocks_every_address_but_the_allowed_ones() -> None:
    allowed = [ipaddress.ip_network("10.1.2.3/32"), ipaddress.ip_network("2001:db8::/64")]
    blocked = everything_but(allowed)

    def covered(text: str) -> bool:
        return any(ipaddress.ip_address(text) in n for n in blocked)

    for allowed_address in ("10.1.2.3", "2001:db8::5", "127.0.0.1", "::1", "fe80::1"):
        assert not covered(allowed_address), allowed_address  # fe80::/10: neighbour discovery
    assert covered("10.1.2.4") and covered("2001:db9::1") and covered("8.8.8.8")
    rng = random.Random(7)
    for _ in range(2000):
        address = ipaddress.ip_address(rng.getrandbits(32))
        expected = not (address.is_loopback or str(address) == "10.1.2.3")
        assert covered(str(address)) == expected, address
    # The blocked networks do not overlap: each address is blocked once.
    for a, b in itertools.pairwise(blocked):
        assert a.version != b.version or not a.overlaps(b)


def test_isolate_replaces_the_rules_and_schedules_their_removal() -> None:
    runner = Recorder()
    WindowsFirewall(runner).isolate([ipaddress.ip_network("192.0.2.10/32")], 600)
    [argv] = runner.lines
    assert argv[:2] == ["powershell.exe", "-NoProfile"]
    script = argv[-1]
    assert script.startswith("$ErrorActionPreference = 'Stop'; ")
    assert script.index("Remove-NetFirewallRule") < script.index("New-NetFirewallRule")
    for direction in ("Inbound", "Outbound"):
        assert f"-Direction {direction} -Action Block -Profile Any" in script
    remote = re.search(r"-RemoteAddress (\S+) \|", script)
    assert remote is not None
    networks = [ipaddress.ip_network(n) for n in remote.group(1).split(",")]
    assert networks == everything_but([ipaddress.ip_network("192.0.2.10/32")])
    assert "Register-ScheduledTask -TaskName 'exwatch-lift-isolation'" in script
    assert f"-Command Remove-NetFirewallRule -Group {ISOLATE_GROUP}" in script


def test_scheduled_lift_time_is_iso_and_in_the_future() -> None:
    script = schedule_once("t", 3600, "Get-Date")
    found = re.search(r"\[datetime\]'([0-9T:-]+)'", script)
    assert found is not None
    at = time.mktime(time.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S"))
    assert 3590 < at - time.time() <= 3600
    with pytest.raises(ValueError, match="quotes"):
        schedule_once("t", 60, "Write-Host 'x'")


def test_release_removes_the_rules_and_the_task() -> None:
    runner = Recorder()
    WindowsFirewall(runner).release()
    script = runner.scripts[0]
    assert f"Remove-NetFirewallRule -Group '{ISOLATE_GROUP}' -ErrorAction Ignore" in script
    assert "Unregister-ScheduledTask -TaskName 'exwatch-lift-isolation'" in script


def test_block_and_unblock_an_ipv6_address() -> None:
    runner = Recorder()
    firewall = WindowsFirewall(runner)
    address = ipaddress.ip_address("2001:db8::7")
    firewall.block(address, 0)
    firewall.block(address, 120)
    firewall.unblock(address)
    permanent, timed, unblock = runner.scripts
    assert "-Group 'exwatch-block-2001-db8--7'" in permanent
    assert "-RemoteAddress 2001:db8::7 |" in permanent
    assert "Unregister-ScheduledTask -TaskName 'exwatch-block-2001-db8--7'" in permanent
    assert "Register-ScheduledTask -TaskName 'exwatch-block-2001-db8--7'" in timed
    assert "New-NetFirewallRule" not in unblock and "Remove-NetFirewallRule" in unblock


def test_app_pool_command_lines() -> None:
    stop = pool_commands("stop", APPCMD)
    assert stop[0] == [APPCMD, "stop", "apppool", "/apppool.name:MSExchangeOWAAppPool"]
    assert {argv[-1].split(":")[1] for argv in stop} == set(WEB_POOLS)
    assert {"MSExchangeECPAppPool", "MSExchangeAutodiscoverAppPool"} <= set(WEB_POOLS)
    with pytest.raises(ValueError, match="stop or start"):
        pool_commands("recycle", APPCMD)


def test_web_offline_and_back_online(tmp_path: Path) -> None:
    runner = Recorder()
    events: list[pb.Event] = []
    containment = Containment(
        WindowsFirewall(runner),
        IisWebFrontEnds(runner, appcmd=APPCMD),
        ContainmentPolicy(collector="127.0.0.1:50051"),
        tmp_path / "containment.json",
        events.extend,
    )
    try:
        detail = containment.web_access(True, 30)
        assert detail.startswith("IIS application pools stopped: MSExchangeOWAAppPool")
        offline = runner.scripts[0]
        assert offline.count(" stop apppool ") == len(WEB_POOLS)
        assert "Register-ScheduledTask -TaskName 'exwatch-web-online'" in offline
        assert offline.count(" start apppool ") == len(WEB_POOLS)  # in the scheduled task
        assert "notmatch 'already|Cannot find'" in offline
        with pytest.raises(ContainmentError, match="needs a time limit"):
            containment.web_access(True, 0)
        containment.web_access(False, 0)
        online = runner.scripts[1]
        assert online.count(" start apppool ") == len(WEB_POOLS)
        assert "Unregister-ScheduledTask -TaskName 'exwatch-web-online'" in online
    finally:
        containment.close()


def test_a_failing_powershell_leaves_no_time_limit_behind(tmp_path: Path) -> None:
    runner = Recorder(fail="powershell.exe failed (exit status 1): access denied")
    containment = Containment(
        WindowsFirewall(runner),
        IisWebFrontEnds(runner, appcmd=APPCMD),
        ContainmentPolicy(collector="127.0.0.1:50051"),
        tmp_path / "containment.json",
        lambda events: None,
    )
    with pytest.raises(ContainmentError, match="access denied"):
        containment.isolate([], 10)
    assert not (tmp_path / "containment.json").exists()
    containment.close()
