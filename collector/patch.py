"""Patch status of an Exchange build against the 2021-2022 exploit-chain security updates.

The table is the per-CU list of fixed builds from the public security-update tables (see
``shared/reference/exchange-detection.md`` section 5). Rules, in order:

- A build belongs to a cumulative update (CU) by its first three parts
  (``15.2.1118`` is Exchange 2019 CU12); the fourth part is the security-update level.
- A build of a CU the update was released for is patched when it is at or above the fixed
  build listed for that CU, and exposed below it.
- A build of a *later* CU than every CU the update lists is patched: later CUs ship the fix.
- A build *older* than every CU the update lists is exposed: no fix exists for it but to
  move to a supported CU.
- Anything else (a product line other than 2013/2016/2019, a build number that falls between
  listed CUs but is none of them, text we cannot parse) is unknown. Unknown is never patched:
  a wrong "patched" hides a breach; a wrong "unknown" costs somebody a look.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "CVES",
    "UPDATES",
    "Build",
    "CumulativeUpdate",
    "CveAssessment",
    "SecurityUpdate",
    "Status",
    "assess",
    "exposure",
    "exposure_summary",
    "parse_build",
    "product_name",
]


class Build(NamedTuple):
    """An Exchange build, ordered numerically (``15.2.1118.20``)."""

    major: int
    minor: int
    build: int
    revision: int

    @property
    def line(self) -> tuple[int, int]:
        """The product line: (15, 0) Exchange 2013, (15, 1) 2016, (15, 2) 2019."""
        return (self.major, self.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.build}.{self.revision}"


# Four numeric parts separated by dots (or commas, as some version resources write them),
# optionally zero-padded ("15.02.1118.020"); trailing text ("(built by ...)") is ignored, a
# fifth number is not (that is some other kind of version).
_SEP = r"\s*[.,]\s*"
_BUILD = re.compile(
    rf"^\s*[vV]?(\d{{1,5}}){_SEP}(\d{{1,5}}){_SEP}(\d{{1,6}}){_SEP}(\d{{1,6}})\b(?!{_SEP}\d)"
)


def parse_build(text: str) -> Build:
    """Parse ``15.2.1118.20``, ``15.02.1118.020`` or a file-version string.

    Raises ValueError for anything without four numeric parts.
    """
    m = _BUILD.match(text)
    if not m:
        raise ValueError(f"not an Exchange build number: {text!r}")
    major, minor, build, revision = (int(part) for part in m.groups())
    return Build(major, minor, build, revision)


_PRODUCTS = {(15, 0): "Exchange 2013", (15, 1): "Exchange 2016", (15, 2): "Exchange 2019"}


def product_name(build: Build) -> str:
    return _PRODUCTS.get(build.line, f"unknown product {build.major}.{build.minor}")


@dataclass(frozen=True, slots=True)
class CumulativeUpdate:
    """A CU the update was released for, and the first build of it that has the fix."""

    product: str  # "E13" | "E16" | "E19"
    name: str  # "CU23"
    fixed: Build  # for "fixed in RTM" rows, the CU's RTM build

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.fixed.major, self.fixed.minor, self.fixed.build)


@dataclass(frozen=True, slots=True)
class SecurityUpdate:
    name: str
    kb: str
    cves: tuple[str, ...]
    cus: tuple[CumulativeUpdate, ...]


def _cu(product: str, name: str, build: str) -> CumulativeUpdate:
    return CumulativeUpdate(product, name, parse_build(build))


def _series(product: str, prefix: str, first_cu: int, fixed: list[str]) -> list[CumulativeUpdate]:
    """Consecutive CUs listed as a row of fixed builds (``E16 CU8-CU17``)."""
    return [_cu(product, f"CU{first_cu + i}", f"{prefix}.{b}") for i, b in enumerate(fixed)]


_MAR21 = SecurityUpdate(
    name="Mar21SU",
    kb="KB5000871",
    cves=(
        "CVE-2021-26855",
        "CVE-2021-26857",
        "CVE-2021-26858",
        "CVE-2021-27065",
        "CVE-2021-26412",
        "CVE-2021-27078",
        "CVE-2021-26854",
    ),
    cus=(
        _cu("E13", "CU21", "15.0.1395.12"),
        _cu("E13", "CU22", "15.0.1473.6"),
        _cu("E13", "CU23", "15.0.1497.12"),
        *_series(
            "E16",
            "15.1",
            8,
            [
                "1415.8",
                "1466.13",
                "1531.12",
                "1591.18",
                "1713.10",
                "1779.8",
                "1847.12",
                "1913.12",
                "1979.8",
                "2044.13",
            ],
        ),
        _cu("E16", "CU18", "15.1.2106.13"),
        _cu("E16", "CU19", "15.1.2176.9"),
        _cu("E16", "CU20", "15.1.2242.4"),  # fixed in RTM
        *_series("E19", "15.2", 1, ["330.11", "397.11", "464.15", "529.13", "595.8", "659.12"]),
        _cu("E19", "CU7", "15.2.721.13"),
        _cu("E19", "CU8", "15.2.792.10"),
        _cu("E19", "CU9", "15.2.858.5"),  # fixed in RTM
    ),
)

_APR21 = SecurityUpdate(
    name="Apr21SU",
    kb="",
    cves=("CVE-2021-34473", "CVE-2021-34523"),
    cus=(
        _cu("E13", "CU23", "15.0.1497.15"),
        _cu("E16", "CU19", "15.1.2176.12"),
        _cu("E16", "CU20", "15.1.2242.8"),
        _cu("E19", "CU8", "15.2.792.13"),
        _cu("E19", "CU9", "15.2.858.10"),
    ),
)

_MAY21 = SecurityUpdate(
    name="May21SU",
    kb="",
    cves=("CVE-2021-31207",),
    cus=(
        _cu("E13", "CU23", "15.0.1497.18"),
        _cu("E16", "CU19", "15.1.2176.14"),
        _cu("E16", "CU20", "15.1.2242.10"),
        _cu("E19", "CU8", "15.2.792.15"),
        _cu("E19", "CU9", "15.2.858.12"),
    ),
)

_NOV22 = SecurityUpdate(
    name="Nov22SU",
    kb="",
    cves=(
        "CVE-2022-41040",
        "CVE-2022-41082",
        "CVE-2022-41078",
        "CVE-2022-41079",
        "CVE-2022-41080",
    ),
    cus=(
        _cu("E13", "CU23", "15.0.1497.44"),
        _cu("E16", "CU22", "15.1.2375.37"),
        _cu("E16", "CU23", "15.1.2507.16"),
        _cu("E19", "CU11", "15.2.986.36"),
        _cu("E19", "CU12", "15.2.1118.20"),
    ),
)

UPDATES: tuple[SecurityUpdate, ...] = (_MAR21, _APR21, _MAY21, _NOV22)
CVES: tuple[str, ...] = tuple(cve for u in UPDATES for cve in u.cves)


class Status(enum.StrEnum):
    PATCHED = "patched"
    EXPOSED = "exposed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CveAssessment:
    """One CVE's status on one build, and what fixes it."""

    cve: str
    status: Status
    update: str  # the security update that fixes it ("Mar21SU")
    kb: str  # its KB number where the reference gives one
    fixed_in: Build | None  # the build of this CU that has the fix, when the update covers it
    reason: str


def _assess_update(build: Build | None, update: SecurityUpdate) -> tuple[Status, Build | None, str]:
    if build is None:
        return Status.UNKNOWN, None, "build unknown"
    if build.line not in _PRODUCTS:
        return Status.UNKNOWN, None, f"{product_name(build)} is not covered by {update.name}"
    same_line = [cu for cu in update.cus if cu.fixed.line == build.line]
    if not same_line:  # every line we know has a row in every update; kept for safety
        return Status.UNKNOWN, None, f"{update.name} lists no {product_name(build)} CU"
    key = (build.major, build.minor, build.build)
    for cu in same_line:
        if cu.key == key:
            where = f"{product_name(build)} {cu.name}"
            if build >= cu.fixed:
                return Status.PATCHED, cu.fixed, f"{where} at or above {cu.fixed}"
            return Status.EXPOSED, cu.fixed, f"{where} below {cu.fixed}"
    lowest = min(cu.key for cu in same_line)
    highest = max(cu.key for cu in same_line)
    if key > highest:
        return Status.PATCHED, None, f"CU later than every CU {update.name} lists includes the fix"
    if key < lowest:
        return (
            Status.EXPOSED,
            None,
            f"CU older than every CU {update.name} lists; no fix without a CU upgrade",
        )
    return Status.UNKNOWN, None, f"build {build} is not a CU {update.name} lists"


def assess(build: Build | str | None) -> dict[str, CveAssessment]:
    """Status of every tracked CVE on ``build`` (a Build, a build string, or None)."""
    if isinstance(build, str):
        try:
            build = parse_build(build)
        except ValueError:
            build = None
    out: dict[str, CveAssessment] = {}
    for update in UPDATES:
        status, fixed_in, reason = _assess_update(build, update)
        for cve in update.cves:
            out[cve] = CveAssessment(cve, status, update.name, update.kb, fixed_in, reason)
    return out


def exposure(build: str | None) -> dict[str, dict[str, str]]:
    """Every tracked CVE's status on ``build`` as the API, the console, the CLI and the
    incident export show it (JSON-ready)."""
    return {
        cve: {
            "status": str(a.status),
            "update": a.update,
            "kb": a.kb,
            "fixed_in": str(a.fixed_in) if a.fixed_in else "",
            "reason": a.reason,
        }
        for cve, a in assess(build or None).items()
    }


def exposure_summary(status: dict[str, dict[str, str]]) -> str:
    """One word for a host: exposed (to any CVE), unknown (to any, none exposed) or patched."""
    states = {s["status"] for s in status.values()}
    for word in (Status.EXPOSED, Status.UNKNOWN):
        if word in states:
            return str(word)
    return str(Status.PATCHED)
