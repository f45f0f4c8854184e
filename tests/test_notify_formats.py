"""The syslog formatters: RFC 5424 header and structured-data escaping, RFC 6587 octet
framing, CEF header and extension escaping. Hypothesis feeds hostile text; independent
parsers (test_notify_support) must read back exactly what went in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_notify_support import parse_5424, parse_cef, split_frames

from collector.notify.channels.formats import (
    BOM,
    CEF_SEVERITY,
    SYSLOG_SEVERITY,
    cef,
    cef_header,
    cef_value,
    header_field,
    octet_frame,
    rfc5424,
    sd_name,
    sd_value,
    structured_data,
    timestamp,
)

CEF_KEY = st.from_regex(r"[A-Za-z0-9_]{1,20}", fullmatch=True)


def message(sd: str, msg: str, **kw: object) -> bytes:
    args: dict[str, object] = {
        "facility": 16,
        "severity": 3,
        "timestamp_ns": 1_700_000_000_123_456_789,
        "hostname": "collector-1",
        "app_name": "exwatch",
        "procid": "-",
        "msgid": "alert.opened",
        "sd": sd,
        "msg": msg,
    }
    args.update(kw)
    return rfc5424(**args)  # type: ignore[arg-type]


def test_a_known_message_byte_for_byte() -> None:
    sd = structured_data([("exwatch@32473", [("alert", "7"), ("path", 'C:\\a]"b')])])
    assert sd == '[exwatch@32473 alert="7" path="C:\\\\a\\]\\"b"]'
    assert message(sd, "New alert") == (
        b"<131>1 2023-11-14T22:13:20.123456Z collector-1 exwatch - alert.opened "
        b'[exwatch@32473 alert="7" path="C:\\\\a\\]\\"b"] New alert'
    )


@given(st.text(), st.text())
def test_sd_values_round_trip(a: str, b: str) -> None:
    sd = structured_data([("exwatch@32473", [("title", a), ("path", b)])])
    parsed = parse_5424(message(sd, "m"))
    assert parsed.sd == [("exwatch@32473", [("title", a), ("path", b)])]
    assert parsed.msg == "m"


@given(st.text(min_size=1))
def test_sd_value_escapes_exactly_the_three_characters(value: str) -> None:
    escaped = sd_value(value)
    # Reading the escapes back gives the value, and no bare '"' or ']' is left.
    unescaped = []
    i = 0
    while i < len(escaped):
        if escaped[i] == "\\":
            assert escaped[i + 1] in '"\\]'
            unescaped.append(escaped[i + 1])
            i += 2
        else:
            assert escaped[i] not in '"]'
            unescaped.append(escaped[i])
            i += 1
    assert "".join(unescaped) == value


@given(st.text(min_size=1))
def test_sd_names_are_valid(name: str) -> None:
    cleaned = sd_name(name)
    assert 1 <= len(cleaned) <= 32
    assert all(0x21 <= ord(c) <= 0x7E and c not in '= ]"' for c in cleaned)


@given(st.text(), st.integers(1, 300))
def test_header_fields_are_printusascii_or_nil(value: str, limit: int) -> None:
    out = header_field(value, limit)
    assert out == "-" or (1 <= len(out) <= limit and all(0x21 <= ord(c) <= 0x7E for c in out))


@given(
    st.text(),
    st.text(),
    st.text(max_size=60),
    st.integers(0, 2**62),
    st.integers(0, 23),
    st.integers(0, 7),
)
def test_whole_messages_parse(
    hostname: str, msg: str, app: str, ns: int, facility: int, severity: int
) -> None:
    data = message(
        "-",
        msg,
        hostname=hostname,
        app_name=app,
        timestamp_ns=ns,
        facility=facility,
        severity=severity,
    )
    parsed = parse_5424(data)
    assert parsed.pri == facility * 8 + severity
    assert parsed.version == "1"
    assert parsed.timestamp == timestamp(ns)
    assert len(parsed.app_name) <= 48
    assert parsed.sd == []
    # Non-ASCII MSG carries the BOM that says "UTF-8" (RFC 5424 6.4).
    expected = BOM + msg if msg and not msg.isascii() else msg
    assert parsed.msg == expected


@given(st.text(min_size=1), st.integers(100, 400))
def test_truncation_keeps_the_header_and_whole_characters(msg: str, limit: int) -> None:
    data = message("-", msg, max_bytes=limit)
    assert len(data) <= max(limit, len(message("-", "")))
    data.decode("utf-8")  # never cuts a character in half
    assert parse_5424(data).hostname == "collector-1"


def test_timestamp_has_at_most_six_fraction_digits() -> None:
    assert timestamp(1_700_000_000_999_999_999) == "2023-11-14T22:13:20.999999Z"
    assert timestamp(0) == "1970-01-01T00:00:00.000000Z"


def test_bad_priority_parts_are_refused() -> None:
    with pytest.raises(ValueError, match="facility"):
        message("-", "x", facility=24)
    with pytest.raises(ValueError, match="facility"):
        message("-", "x", severity=8)


@given(st.lists(st.binary(max_size=300), max_size=5))
def test_octet_frames_split_back(messages: list[bytes]) -> None:
    stream = b"".join(octet_frame(m) for m in messages)
    assert split_frames(stream) == messages


def test_octet_framing_survives_newlines() -> None:
    frames = octet_frame(b"<131>1 - - - - - - a\nb") + octet_frame(b"<131>1 - - - - - - c")
    assert split_frames(frames) == [b"<131>1 - - - - - - a\nb", b"<131>1 - - - - - - c"]


# ---------------------------------------------------------------------- CEF


def test_a_known_cef_line() -> None:
    line = cef(
        vendor="exwatch",
        product="exwatch-collector",
        version="0.1",
        signature_id="exwatch.webroot.page_written",
        name="New page | C:\\x",
        severity=8,
        extension=[("msg", "a=b\nc\\d|e"), ("cs1Label", "tenant"), ("cs1", "acme")],
    )
    assert line == (
        "CEF:0|exwatch|exwatch-collector|0.1|exwatch.webroot.page_written|"
        "New page \\| C:\\\\x|8|msg=a\\=b\\nc\\\\d|e cs1Label=tenant cs1=acme"
    )


@given(st.lists(st.text(), min_size=5, max_size=5), st.integers(0, 10))
def test_cef_header_round_trips(fields: list[str], severity: int) -> None:
    vendor, product, version, sig, name = fields
    line = cef(
        vendor=vendor,
        product=product,
        version=version,
        signature_id=sig,
        name=name,
        severity=severity,
        extension=[],
    )
    assert "\n" not in line and "\r" not in line
    header, pairs = parse_cef(line)
    flat = [f.replace("\r\n", " ").replace("\r", " ").replace("\n", " ") for f in fields]
    assert header == ["CEF:0", *flat, str(severity)][:7]
    assert pairs == []


@given(st.lists(st.tuples(CEF_KEY, st.text()), max_size=6))
def test_cef_extension_round_trips(pairs: list[tuple[str, str]]) -> None:
    line = cef(
        vendor="v",
        product="p",
        version="1",
        signature_id="s",
        name="n",
        severity=5,
        extension=pairs,
    )
    assert "\n" not in line and "\r" not in line
    _, parsed = parse_cef(line)
    # A CR LF pair is one line break: it comes back as \n.
    assert parsed == [(k, v.replace("\r\n", "\n")) for k, v in pairs]


@given(st.text())
def test_cef_value_escapes(value: str) -> None:
    out = cef_value(value)
    assert "\n" not in out and "\r" not in out
    i = 0
    while i < len(out):
        if out[i] == "\\":
            assert out[i + 1] in "\\=nr"
            i += 2
        else:
            assert out[i] != "="
            i += 1


@given(st.text())
def test_cef_header_escapes(value: str) -> None:
    out = cef_header(value)
    assert "\n" not in out and "\r" not in out
    i = 0
    while i < len(out):
        if out[i] == "\\":
            assert out[i + 1] in "\\|"
            i += 2
        else:
            assert out[i] != "|"
            i += 1


def test_cef_refuses_bad_keys_and_severity() -> None:
    with pytest.raises(ValueError, match="key"):
        cef(
            vendor="v",
            product="p",
            version="1",
            signature_id="s",
            name="n",
            severity=1,
            extension=[("bad key", "x")],
        )
    with pytest.raises(ValueError, match="0-10"):
        cef(
            vendor="v",
            product="p",
            version="1",
            signature_id="s",
            name="n",
            severity=11,
            extension=[],
        )


def test_severity_maps_cover_every_alert_severity() -> None:
    assert set(SYSLOG_SEVERITY) == set(CEF_SEVERITY) == {1, 2, 3, 4, 5}
    assert SYSLOG_SEVERITY[5] == 2 and CEF_SEVERITY[5] == 10  # critical is crit / 10
