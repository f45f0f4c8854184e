"""The host's Exchange build number, for the heartbeat's ``exchange_build`` (patch status).

In order of trust:

1. ``config``: an explicit override (``[host] exchange_build``), for hosts where the other
   two lie or cannot be read.
2. ``exsetup``: the file version of ``<MsiInstallPath>\\bin\\ExSetup.exe``. This is what
   Microsoft's HealthChecker reads; security updates replace ExSetup.exe, so its version
   carries the SU level.
3. ``registry``: ``MsiProductMajor/Minor`` and ``MsiBuildMajor/Minor`` under the Setup key
   (what EOMT reads). They name the CU, and on some installs are not moved by SUs, so they
   are only a fallback.

The Windows reads are in ``agent.platform.file_version``; everything here is pure. The
collector judges the build (``collector.patch``); the agent only reports it, normalised to
``15.2.1118.20``.
"""

from __future__ import annotations

import ntpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.platform.file_version import exchange_setup_values, file_version

__all__ = [
    "ExchangeBuild",
    "build_from_file_version",
    "build_from_registry",
    "detect_exchange_build",
    "exsetup_path",
    "normalize_build",
]

_BUILD = re.compile(r"^\s*(\d{1,5})[.,]\s*(\d{1,5})[.,]\s*(\d{1,6})[.,]\s*(\d{1,6})\s*$")


@dataclass(frozen=True, slots=True)
class ExchangeBuild:
    build: str  # "15.2.1118.20", or "" when unknown
    source: str  # "config" | "exsetup" | "registry" | ""
    detail: str = ""  # why it is unknown, or where it was read


def normalize_build(text: str) -> str | None:
    """``15.02.1118.020`` -> ``15.2.1118.20``; None unless it is four numbers."""
    m = _BUILD.match(text)
    if not m:
        return None
    return ".".join(str(int(part)) for part in m.groups())


def build_from_file_version(ms: int, ls: int) -> str:
    """VS_FIXEDFILEINFO ``FileVersionMS``/``LS`` (two 16-bit halves each) -> build string."""
    return f"{ms >> 16 & 0xFFFF}.{ms & 0xFFFF}.{ls >> 16 & 0xFFFF}.{ls & 0xFFFF}"


def build_from_registry(values: Mapping[str, str | int]) -> str | None:
    """``MsiProductMajor.MsiProductMinor.MsiBuildMajor.MsiBuildMinor``; None if any is missing."""
    parts = []
    for name in ("MsiProductMajor", "MsiProductMinor", "MsiBuildMajor", "MsiBuildMinor"):
        value = values.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            parts.append(str(value))
        elif isinstance(value, str) and value.strip().isdigit():
            parts.append(str(int(value)))
        else:
            return None
    return ".".join(parts)


def exsetup_path(install_path: str) -> str:
    """``<MsiInstallPath>\\bin\\ExSetup.exe`` (the value ends in a backslash, or may not)."""
    return ntpath.join(install_path, "bin", "ExSetup.exe")


def detect_exchange_build(
    *,
    override: str | None = None,
    setup_values: Callable[[], Mapping[str, str | int] | None] = exchange_setup_values,
    read_file_version: Callable[[str], tuple[int, int] | None] = file_version,
) -> ExchangeBuild:
    """The build from the first source that has it (readers injectable for tests)."""
    if override:
        build = normalize_build(override)
        if build is None:
            return ExchangeBuild("", "", f"configured exchange_build {override!r} is not a build")
        return ExchangeBuild(build, "config", "configured")
    values = setup_values()
    if not values:
        return ExchangeBuild("", "", "Exchange Setup key not found (not an Exchange server?)")
    install = values.get("MsiInstallPath")
    if isinstance(install, str) and install:
        path = exsetup_path(install)
        version = read_file_version(path)
        if version is not None:
            return ExchangeBuild(build_from_file_version(*version), "exsetup", path)
    build = build_from_registry(values)
    if build is not None:
        return ExchangeBuild(build, "registry", "Setup key Msi* values")
    return ExchangeBuild("", "", "neither ExSetup.exe nor the Setup key gave a build")
