"""Parse one rendered Windows event (EvtRender XML, or a record of the ``evtx`` package).

The input is the ``<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">``
document. The output is a :class:`WinEvent`: the System fields every rule needs, and the
EventData (or UserData) items as a flat name -> text map that Sigma-style rules can match.

Event XML comes from the machine we are watching, and on the offline path from files an
attacker may have handed us, so it is parsed as hostile: expat directly, with every DOCTYPE
refused before any entity can be declared (no billion laughs, no external entities, no
network), a size cap, and a depth cap. Rendered events never carry a DOCTYPE, so refusing one
costs nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from agent.errors import AgentError

__all__ = [
    "EVENT_NS",
    "MAX_DEPTH",
    "MAX_XML_CHARS",
    "EventXmlError",
    "WinEvent",
    "parse_event_xml",
    "parse_system_time",
]

EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
# An EVTX chunk is 64 KiB, so no real record renders to anything near this.
MAX_XML_CHARS = 1024 * 1024
MAX_DEPTH = 32

# Flat-record names of the System fields (Sigma's Windows field names where it has them).
SYSTEM_FIELDS = (
    "Provider_Name",
    "EventID",
    "Level",
    "TimeCreated",
    "Computer",
    "Channel",
    "EventRecordID",
)


class EventXmlError(AgentError):
    """An event's XML cannot be used: malformed, hostile, too large, or not an event."""


@dataclass(frozen=True, slots=True)
class WinEvent:
    """One Windows event, System fields typed, data items as text.

    ``data`` holds EventData ``<Data Name="X">`` as ``X``, unnamed ``<Data>`` items as
    ``Data1..n`` in order, ``<Binary>`` as ``Binary``, and UserData leaves by element name.
    ``fields`` is the flat record for rules: System fields (names in ``SYSTEM_FIELDS``), the data
    items, ``Data`` (every data value joined by newlines, for keyword rules) and ``Message``
    when the XML carries RenderingInfo.
    """

    provider: str
    event_id: int
    level: int
    time_created: str  # SystemTime as written, ISO 8601 UTC
    computer: str
    channel: str
    record_id: int
    data: Mapping[str, str]
    message: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)


def _local(tag: str) -> str:
    """``{namespace}Name`` or ``namespace}Name`` -> ``Name``."""
    return tag.rsplit("}", 1)[-1]


def _refuse(what: str) -> NoReturn:
    raise EventXmlError(f"event XML refused: {what} (event XML never contains one)")


def _refuse_doctype(*_: object) -> None:
    _refuse("a DOCTYPE")


def _refuse_entity(*_: object) -> None:
    _refuse("an entity declaration")


def _refuse_external(*_: object) -> int:
    _refuse("an external entity")


def _parse_tree(text: str | bytes) -> ET.Element:
    if len(text) > MAX_XML_CHARS:
        raise EventXmlError(f"event XML refused: {len(text)} characters, limit {MAX_XML_CHARS}")
    builder = ET.TreeBuilder()
    depth = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise EventXmlError(f"event XML refused: nested deeper than {MAX_DEPTH} elements")
        builder.start(_local(name), {_local(k): v for k, v in attrs.items()})

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(_local(name))

    parser = expat.ParserCreate(namespace_separator="}")
    # Refuse before expat sees a single declaration: a DOCTYPE is where entities live.
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(text, True)
        root = builder.close()
    except expat.ExpatError as exc:
        raise EventXmlError(f"malformed event XML: {exc}") from None
    except AssertionError:  # TreeBuilder.close() on a document with no element
        raise EventXmlError("malformed event XML: no element") from None
    if root.tag != "Event":
        raise EventXmlError(f"not a Windows event: root element is <{root.tag}>")
    return root


def _child(parent: ET.Element | None, name: str) -> ET.Element | None:
    if parent is None:
        return None
    for child in parent:
        if child.tag == name:
            return child
    return None


def _text(element: ET.Element | None) -> str:
    return "" if element is None else "".join(element.itertext())


def _int(text: str, what: str) -> int:
    text = text.strip()
    if not text:
        return 0
    try:
        return int(text, 0) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise EventXmlError(f"event XML: {what} is not a number: {text[:40]!r}") from None


def _data_items(root: ET.Element) -> dict[str, str]:
    data: dict[str, str] = {}
    event_data = _child(root, "EventData")
    if event_data is not None:
        unnamed = 0
        for item in event_data:
            value = _text(item)
            if item.tag == "Data":
                name = item.get("Name")
                if name:
                    data[name] = value
                else:
                    unnamed += 1
                    data[f"Data{unnamed}"] = value
            elif item.tag == "Binary":
                data["Binary"] = value
    user_data = _child(root, "UserData")
    if user_data is not None:
        # UserData holds one provider-defined element; its leaves are the values.
        for element in user_data.iter():
            if len(element) == 0 and element is not user_data:
                data.setdefault(element.tag, _text(element))
    return data


def parse_event_xml(text: str | bytes) -> WinEvent:
    """Parse one rendered event. Raises :class:`EventXmlError` on anything unusable."""
    root = _parse_tree(text)
    system = _child(root, "System")
    if system is None:
        raise EventXmlError("not a Windows event: no <System> element")
    provider_el = _child(system, "Provider")
    time_el = _child(system, "TimeCreated")
    provider = provider_el.get("Name", "") if provider_el is not None else ""
    event_id = _int(_text(_child(system, "EventID")), "EventID")
    level = _int(_text(_child(system, "Level")), "Level")
    time_created = time_el.get("SystemTime", "") if time_el is not None else ""
    computer = _text(_child(system, "Computer")).strip()
    channel = _text(_child(system, "Channel")).strip()
    record_id = _int(_text(_child(system, "EventRecordID")), "EventRecordID")
    data = _data_items(root)
    message = _text(_child(_child(root, "RenderingInfo"), "Message")).strip()
    fields: dict[str, str] = dict(
        zip(
            SYSTEM_FIELDS,
            (provider, str(event_id), str(level), time_created, computer, channel, str(record_id)),
            strict=True,
        )
    )
    for name, value in data.items():
        fields.setdefault(name, value)  # a data item never masks a System field
    fields["Data"] = "\n".join(v for v in data.values() if v)
    if message:
        fields["Message"] = message
    return WinEvent(
        provider=provider,
        event_id=event_id,
        level=level,
        time_created=time_created,
        computer=computer,
        channel=channel,
        record_id=record_id,
        data=data,
        message=message,
        fields=fields,
    )


# SystemTime has up to 7 (Windows) or 9 fractional digits; datetime takes 6.
_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]00:?00)?$"
)


def parse_system_time(text: str) -> int | None:
    """``2021-03-03T04:12:55.1234567Z`` (SystemTime) or ``2021-03-03 04:12:55.123`` (Sysmon
    UtcTime) -> Unix nanoseconds; None when it is not such a time. Both are UTC."""
    m = _TIME.match(text.strip())
    if not m:
        return None
    day, clock, fraction, _zone = m.groups()
    try:
        whole = dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    nanos = int((fraction or "0").ljust(9, "0"))
    return int(whole.timestamp()) * 1_000_000_000 + nanos
