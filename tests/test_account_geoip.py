"""Countries from an offline GeoIP database: one account logged on from two countries within
the hour is reported; without a database, or from one country, nothing is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from test_account_abuse import AUTODISCOVER, correlations, request, write_log

from agent import geoip

COUNTRIES_ID = "bb222b24-30d0-4a33-abce-a1b87884cff4"
LONDON, STOCKHOLM, LONDON_TOO = "81.2.69.160", "89.160.20.112", "81.2.69.142"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small Country database of our own, in MaxMind's format."""
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-Country", ipv4_compatible=True)
    writer.insert_network(IPSet(["81.2.69.0/24"]), {"country": {"iso_code": "GB"}})
    writer.insert_network(IPSet(["89.160.20.0/24"]), {"country": {"iso_code": "se"}})
    # a network known only by where it is registered
    writer.insert_network(IPSet(["2a02:cf40::/29"]), {"registered_country": {"iso_code": "NO"}})
    path = tmp_path_factory.mktemp("geoip") / "countries.mmdb"
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def configured(database: Path) -> Iterator[None]:
    geoip.set_database(database)
    yield
    geoip.set_database(None)


def logons(*addresses: str) -> list[str]:
    return [
        request(i * 300, "CONTOSO\\alice", ip, status=200, stem=AUTODISCOVER)
        for i, ip in enumerate(addresses)
    ]


@pytest.mark.usefixtures("configured")
def test_countries_of_addresses() -> None:
    assert geoip.country(LONDON) == "GB"
    assert geoip.country(STOCKHOLM) == "SE"
    assert geoip.country("2a02:cf40::1") == "NO"
    # not public, not an address, not in the database
    for nothing in ("10.1.2.3", "127.0.0.1", "fe80::1", "", "-", "not-an-ip", "8.8.8.8"):
        assert geoip.country(nothing) == ""


@pytest.mark.usefixtures("configured")
@given(st.text(max_size=60))
def test_any_text_as_address_is_no_crash(text: str) -> None:
    assert geoip.country(text) in ("", "GB", "SE", "NO")


def test_without_a_database_there_are_no_countries() -> None:
    assert geoip.country(LONDON) == ""


def test_an_unreadable_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"\x00" * 4096)
    with pytest.raises(geoip.GeoIPError, match=r"bad\.mmdb"):
        geoip.set_database(bad)
    with pytest.raises(geoip.GeoIPError, match=r"missing\.mmdb"):
        geoip.set_database(tmp_path / "missing.mmdb")


@pytest.mark.usefixtures("configured")
def test_two_countries_within_the_hour_name_the_account(tmp_path: Path) -> None:
    [found] = correlations([write_log(tmp_path, logons(LONDON, LONDON_TOO, STOCKHOLM))])
    assert found.detection.rule_id == COUNTRIES_ID
    assert dict(found.group) == {"cs-username": "contoso\\alice"}
    assert found.values == ("gb", "se")  # values are compared and reported case-folded


@pytest.mark.usefixtures("configured")
def test_one_country_or_private_addresses_are_nothing(tmp_path: Path) -> None:
    assert correlations([write_log(tmp_path, logons(LONDON, LONDON_TOO, "10.0.0.9"))]) == []


def test_nothing_without_a_database(tmp_path: Path) -> None:
    assert correlations([write_log(tmp_path, logons(LONDON, STOCKHOLM))]) == []


def test_the_agent_uses_the_configured_database(tmp_path: Path, database: Path) -> None:
    from agent.config import AccountsSection, AgentConfig, CollectorSection, HostSection
    from agent.runner import Agent

    def config(geoip_database: Path) -> AgentConfig:
        return AgentConfig(
            collector=CollectorSection(address="127.0.0.1:9", insecure=True),
            host=HostSection(system_root=tmp_path / "host"),
            accounts=AccountsSection(geoip_database=geoip_database),
            data_dir=tmp_path / "agent",
        )

    try:
        Agent(config(database))
        assert geoip.country(STOCKHOLM) == "SE"
        with pytest.raises(geoip.GeoIPError, match="nope"):
            Agent(config(tmp_path / "nope.mmdb"))
    finally:
        geoip.set_database(None)


def test_hunt_command_takes_the_database(tmp_path: Path, database: Path) -> None:
    from click.testing import CliRunner

    from agent.hunt import hunt

    log = write_log(tmp_path / "W3SVC1", logons(LONDON, STOCKHOLM))
    try:
        found = CliRunner().invoke(hunt, [str(log), "--geoip", str(database)])
        assert found.exit_code == 1, found.output
        assert COUNTRIES_ID in found.output
        missing = CliRunner().invoke(hunt, [str(log), "--geoip", str(tmp_path / "no.mmdb")])
        assert missing.exit_code == 2 and "no.mmdb" in missing.output
    finally:
        geoip.set_database(None)
