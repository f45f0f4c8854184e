"""Patch status: every fixed build in the table, one revision either side."""

from __future__ import annotations

import pytest

from collector.patch import (
    CVES,
    UPDATES,
    Build,
    CumulativeUpdate,
    SecurityUpdate,
    Status,
    assess,
    parse_build,
)

_ROWS: list[tuple[SecurityUpdate, CumulativeUpdate]] = [(u, cu) for u in UPDATES for cu in u.cus]


def _id(row: tuple[SecurityUpdate, CumulativeUpdate]) -> str:
    u, cu = row
    return f"{u.name}-{cu.product}-{cu.name}"


@pytest.mark.parametrize("row", _ROWS, ids=[_id(r) for r in _ROWS])
def test_fixed_build_and_either_side(row: tuple[SecurityUpdate, CumulativeUpdate]) -> None:
    update, cu = row
    fixed = cu.fixed
    below = fixed._replace(revision=fixed.revision - 1)
    above = fixed._replace(revision=fixed.revision + 1)
    for build, want in ((below, Status.EXPOSED), (fixed, Status.PATCHED), (above, Status.PATCHED)):
        result = assess(build)
        for cve in update.cves:
            got = result[cve]
            assert got.status is want, (str(build), cve, got.reason)
            assert got.update == update.name
            assert got.fixed_in == fixed


def test_table_matches_reference_counts() -> None:
    # The reference table lists these many CUs per update; a lost row would hide a CU.
    assert {u.name: len(u.cus) for u in UPDATES} == {
        "Mar21SU": 3 + 10 + 3 + 6 + 3,
        "Apr21SU": 5,
        "May21SU": 5,
        "Nov22SU": 5,
    }
    assert len(CVES) == len(set(CVES)) == 15


@pytest.mark.parametrize(
    ("build", "cve", "want"),
    [
        # Later CUs include the fix.
        ("15.1.2308.8", "CVE-2021-26855", Status.PATCHED),  # E16 CU21, after CU20
        ("15.2.922.7", "CVE-2021-34473", Status.PATCHED),  # E19 CU10, after CU9
        ("15.2.1258.12", "CVE-2022-41082", Status.PATCHED),  # E19 CU13, after CU12
        # Older CUs than the update covers are exposed, whatever their revision.
        ("15.1.2308.8", "CVE-2022-41040", Status.EXPOSED),  # E16 CU21 < CU22 for Nov22SU
        ("15.2.922.7", "CVE-2022-41080", Status.EXPOSED),  # E19 CU10 < CU11 for Nov22SU
        ("15.2.721.13", "CVE-2021-34473", Status.EXPOSED),  # E19 CU7: no Apr21SU
        ("15.1.2106.13", "CVE-2021-31207", Status.EXPOSED),  # E16 CU18: no May21SU
        ("15.0.1473.6", "CVE-2021-34523", Status.EXPOSED),  # E13 CU22: no Apr21SU
        ("15.0.1365.1", "CVE-2021-26855", Status.EXPOSED),  # E13 CU20, before the table
        ("15.1.1261.35", "CVE-2021-26857", Status.EXPOSED),  # E16 CU7
        ("15.2.221.12", "CVE-2021-27065", Status.EXPOSED),  # E19 RTM
        # Not a CU of the table, between two that are: unknown, never patched.
        ("15.2.800.1", "CVE-2021-26855", Status.UNKNOWN),
        ("15.1.2400.99", "CVE-2022-41082", Status.UNKNOWN),
        # Other products.
        ("14.3.513.0", "CVE-2021-26855", Status.UNKNOWN),
        ("16.0.1.1", "CVE-2022-41082", Status.UNKNOWN),
    ],
)
def test_outside_the_listed_cus(build: str, cve: str, want: Status) -> None:
    assert assess(build)[cve].status is want


@pytest.mark.parametrize("text", ["", "garbage", "15.2", "15.2.1118", None])
def test_unparseable_is_unknown_never_patched(text: str | None) -> None:
    result = assess(text)
    assert set(result) == set(CVES)
    assert {a.status for a in result.values()} == {Status.UNKNOWN}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("15.2.1118.20", Build(15, 2, 1118, 20)),
        ("15.02.1118.020", Build(15, 2, 1118, 20)),
        ("  15.01.2507.016 ", Build(15, 1, 2507, 16)),
        ("15.00.1497.044 (built by: ...)", Build(15, 0, 1497, 44)),
        ("15,2,1118,7", Build(15, 2, 1118, 7)),
        ("v15.2.986.36", Build(15, 2, 986, 36)),
    ],
)
def test_parse_build(text: str, want: Build) -> None:
    assert parse_build(text) == want
    assert str(parse_build(text)) == str(want)


@pytest.mark.parametrize("text", ["", "15.2.1118", "abc", "15.2.x.1", "1.2.3.4.5x"])
def test_parse_build_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not an Exchange build"):
        parse_build(text)


def test_eomt_v2_thresholds_agree() -> None:
    # EOMTv2 treats anything below these as vulnerable to Nov22SU's CVEs.
    for text in (
        "15.00.1497.044",
        "15.01.2375.037",
        "15.01.2507.016",
        "15.02.0986.036",
        "15.02.1118.020",
    ):
        fixed = parse_build(text)
        assert assess(fixed)["CVE-2022-41082"].status is Status.PATCHED
        below = fixed._replace(revision=fixed.revision - 1)
        assert assess(below)["CVE-2022-41082"].status is Status.EXPOSED
