"""Exchange build on the agent: pure parsing and source order (Windows reads injected)."""

from __future__ import annotations

import sys

import pytest

from agent.exchange_build import (
    build_from_file_version,
    build_from_registry,
    detect_exchange_build,
    exsetup_path,
    normalize_build,
)
from agent.platform.file_version import exchange_setup_values, file_version

SETUP: dict[str, str | int] = {
    "MsiInstallPath": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
    "MsiProductMajor": 15,
    "MsiProductMinor": 2,
    "MsiBuildMajor": 1118,
    "MsiBuildMinor": 7,
}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("15.2.1118.20", "15.2.1118.20"),
        ("15.02.1118.020", "15.2.1118.20"),
        (" 15,1,2507,16 ", "15.1.2507.16"),
        ("15.2.1118", None),
        ("abc", None),
        ("", None),
    ],
)
def test_normalize_build(text: str, want: str | None) -> None:
    assert normalize_build(text) == want


def test_file_version_halves() -> None:
    # ExSetup.exe 15.2.1118.20: MS = 15 << 16 | 2, LS = 1118 << 16 | 20
    assert build_from_file_version(15 << 16 | 2, 1118 << 16 | 20) == "15.2.1118.20"
    assert build_from_file_version(0, 0) == "0.0.0.0"


def test_registry_values() -> None:
    assert build_from_registry(SETUP) == "15.2.1118.7"
    assert build_from_registry({**SETUP, "MsiBuildMinor": "07"}) == "15.2.1118.7"
    assert build_from_registry({**SETUP, "MsiBuildMinor": "x"}) is None
    assert build_from_registry({k: v for k, v in SETUP.items() if k != "MsiBuildMajor"}) is None


def test_exsetup_path() -> None:
    want = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\bin\\ExSetup.exe"
    assert exsetup_path(str(SETUP["MsiInstallPath"])) == want
    assert exsetup_path("C:\\Program Files\\Microsoft\\Exchange Server\\V15") == want


def test_order_config_then_exsetup_then_registry() -> None:
    read: list[str] = []

    def version(path: str) -> tuple[int, int] | None:
        read.append(path)
        return (15 << 16 | 2, 1118 << 16 | 20)

    got = detect_exchange_build(
        override="15.02.1118.026", setup_values=lambda: SETUP, read_file_version=version
    )
    assert (got.build, got.source) == ("15.2.1118.26", "config") and not read

    got = detect_exchange_build(setup_values=lambda: SETUP, read_file_version=version)
    assert (got.build, got.source) == ("15.2.1118.20", "exsetup")
    assert read == [exsetup_path(str(SETUP["MsiInstallPath"]))]

    got = detect_exchange_build(setup_values=lambda: SETUP, read_file_version=lambda p: None)
    assert (got.build, got.source) == ("15.2.1118.7", "registry")


def test_unknown_is_empty_with_a_reason() -> None:
    got = detect_exchange_build(setup_values=lambda: None, read_file_version=lambda p: None)
    assert got.build == "" and "not found" in got.detail
    got = detect_exchange_build(
        setup_values=lambda: {"MsiInstallPath": "C:\\x\\"}, read_file_version=lambda p: None
    )
    assert got.build == "" and got.detail
    got = detect_exchange_build(override="latest")
    assert got.build == "" and "latest" in got.detail


@pytest.mark.skipif(sys.platform == "win32", reason="the Windows reads work there")
def test_platform_reads_are_none_off_windows() -> None:
    assert file_version("/bin/sh") is None
    assert exchange_setup_values() is None
    got = detect_exchange_build()
    assert got.build == "" and got.source == ""
