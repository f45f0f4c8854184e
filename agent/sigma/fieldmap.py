"""Which Sigma logsource a rule targets, and how our records look under Sigma's field names.

Our log records keep the log's own column names (``cs-uri-stem``, ``UrlStem``, ``S:CMD``).
Sigma rules use taxonomy names (``cs-uri-query``, ``cs-user-agent``). This module bridges the
two per *channel*: a channel is the logsource a rule is written for, and a record is offered
to every channel it can stand for (an HttpProxy row is both ``webserver`` and
``exchange/httpproxy``), so webserver rules fire on IIS and HttpProxy alike.

Channels:

- ``webserver``: Sigma ``category: webserver``; IIS W3C and HttpProxy rows.
- ``httpproxy``, ``ecp``, ``oab``, ``rps_http``, ``cmdlet``: ``product: exchange`` with that
  ``service``; native column names (our built-in rules use these).
- ``msexchange-management``: Sigma ``service: msexchange-management`` (keyword rules over
  "Cmdlet X, parameters ..."); cmdlet-log rows and MSExchange Management events. See
  :func:`management_event` for the field names either kind offers.
- ``process_creation``: Sysmon-style fields (``Image``, ``CommandLine``, ...) via
  :meth:`SigmaRuleSet.match_event`; psutil, Security 4688 and Sysmon 1 all produce them. See
  :func:`process_event`.
- ``application``: Sigma ``product: windows`` + ``service: application`` (the Windows
  Application channel): ``Provider_Name``, ``EventID``, ``Level``, the data items, ``Data`` and
  ``Message``. See :func:`application_event`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from agent import geoip
from agent.logrecord import LogRecord
from agent.sigma.matcher import normalize, normalize_folded

__all__ = [
    "COUNTRY_FIELD",
    "EVENT_CHANNELS",
    "EXCHANGE_SERVICES",
    "PLAIN_CHANNELS",
    "Event",
    "application_event",
    "channel_for_logsource",
    "channels_for_source",
    "event_from_fields",
    "event_from_record",
    "management_event",
    "process_event",
    "record_columns",
]

EXCHANGE_SERVICES = frozenset({"httpproxy", "ecp", "oab", "rps_http", "cmdlet"})
# Channels that no log record feeds but match_event() accepts (other agent sources).
EVENT_CHANNELS = frozenset(
    {"process_creation", "msexchange-management", "webserver", "application"}
)
# Channels whose values are no URLs: compared as written (case folded), never percent- or
# ``+``-decoded (see agent.sigma.matcher).
PLAIN_CHANNELS = frozenset({"process_creation", "application"})

# Which channels each record source is offered to, in evaluation order.
_SOURCE_CHANNELS: dict[str, tuple[str, ...]] = {
    "iis": ("webserver",),
    "httpproxy": ("webserver", "httpproxy"),
    "ecp": ("ecp",),
    "oab": ("oab",),
    "rps_http": ("rps_http",),
    "cmdlet": ("cmdlet", "msexchange-management"),
}


def channels_for_source(source: str) -> tuple[str, ...]:
    """Channels a record of ``source`` is matched on (empty for unknown sources)."""
    return _SOURCE_CHANNELS.get(source, ())


def channel_for_logsource(
    product: str | None, category: str | None, service: str | None
) -> str | None:
    """The channel a rule's logsource selects, or None when no agent source provides it."""
    product = (product or "").casefold()
    category = (category or "").casefold()
    service = (service or "").casefold()
    if category == "webserver":
        return "webserver"
    if product == "exchange" and service in EXCHANGE_SERVICES and not category:
        return service
    if service == "msexchange-management" and product in ("", "windows"):
        return "msexchange-management"
    if category == "process_creation" and product in ("", "windows"):
        return "process_creation"
    if service == "application" and product in ("", "windows") and not category:
        return "application"
    return None


class Event:
    """One record as a channel sees it: Sigma field name -> values, normalised lazily.

    A field may hold several values (the IIS URI is offered both as the stem alone and as
    ``stem?query``); a condition on it holds when it holds for any of them. A field whose log
    column is empty or ``-`` is absent (Sigma ``null``).
    """

    __slots__ = (
        "_absent",
        "_decode",
        "_decoded",
        "_folded",
        "_keywords",
        "_kw_decoded",
        "_kw_folded",
        "_lookup",
        "_raw",
    )

    def __init__(
        self,
        lookup: Callable[[str], tuple[str, ...]],
        keywords: str,
        absent: frozenset[str] = frozenset(),
        *,
        decode: bool = True,
    ) -> None:
        self._lookup = lookup
        # False: values are no URLs (command lines, event text); "decoded" is the raw value.
        self._decode = decode
        # Fields that carry values for matching but whose own log column was empty (the IIS
        # query offers the stem for "contains" yet is null when the request had no query).
        self._absent = absent
        self._raw: dict[str, tuple[str, ...]] = {}
        self._decoded: dict[str, tuple[str, ...]] = {}
        self._folded: dict[str, tuple[str, ...]] = {}
        self._keywords = (keywords,)
        self._kw_decoded: tuple[str, ...] | None = None
        self._kw_folded: tuple[str, ...] | None = None

    # Each field is looked up once per event, so a miss is as common as a hit: get, not
    # try/except KeyError (raising costs several times a lookup).
    def raw(self, field: str) -> tuple[str, ...]:
        values = self._raw.get(field)
        if values is None:
            values = self._raw[field] = self._lookup(field)
        return values

    def decoded(self, field: str) -> tuple[str, ...]:
        values = self._decoded.get(field)
        if values is None:
            raw = self.raw(field)
            values = self._decoded[field] = (
                tuple(normalize(v) for v in raw) if self._decode else raw
            )
        return values

    def folded(self, field: str) -> tuple[str, ...]:
        values = self._folded.get(field)
        if values is None:
            values = self._folded[field] = tuple(v.casefold() for v in self.decoded(field))
        return values

    def present(self, field: str) -> bool:
        return field not in self._absent and any(self.raw(field))

    def keywords_raw(self) -> tuple[str, ...]:
        return self._keywords

    def keywords_decoded(self) -> tuple[str, ...]:
        if self._kw_decoded is None:
            text = self._keywords[0]
            self._kw_decoded = (normalize(text) if self._decode else text,)
        return self._kw_decoded

    def keywords_folded(self) -> tuple[str, ...]:
        if self._kw_folded is None:
            text = self._keywords[0]
            self._kw_folded = (normalize_folded(text) if self._decode else text.casefold(),)
        return self._kw_folded


def _value(fields: Mapping[str, str], name: str) -> str:
    """A column's value, with the W3C/CSV "nothing here" markers turned into empty."""
    value = fields.get(name, "")
    return "" if value in ("-", "") else value


def _native(fields: Mapping[str, str]) -> Callable[[str], tuple[str, ...]]:
    def lookup(field: str) -> tuple[str, ...]:
        value = _value(fields, field)
        return (value,) if value else ()

    return lookup


def _uri(stem: str, query: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(cs-uri-stem values, cs-uri-query values) for one request.

    Sigma webserver rules look in ``cs-uri-query`` for strings IIS logs in the stem, so both
    fields offer ``stem?query``; the stem alone stays available for exact matches on the stem
    (``cs-uri-stem: '/ecp/DDI/DDIService.svc/SetObject'``) and the query alone for rules on
    it. ``cs-uri-query`` is null when the request had no query.
    """
    query = query[1:] if query.startswith("?") else query
    full = f"{stem}?{query}" if query else stem
    stem_values: tuple[str, ...] = (stem, full) if query else ((stem,) if stem else ())
    query_values: tuple[str, ...] = (full, query) if query else ()
    if not query and stem:
        # No query: a "contains" on cs-uri-query must still see the path.
        query_values = (stem,)
    return stem_values, query_values


# Sigma webserver taxonomy name -> column, for each record source.
_IIS_WEB = {
    "cs-method": "cs-method",
    "cs-user-agent": "cs(User-Agent)",
    "cs-referer": "cs(Referer)",
    "cs-cookie": "cs(Cookie)",
    "cs-host": "cs(Host)",
    "sc-status": "sc-status",
    "c-ip": "c-ip",
    "s-ip": "s-ip",
    "s-port": "s-port",
    "cs-username": "cs-username",
    "cs-version": "cs-version",
}
_PROXY_WEB = {
    "cs-method": "Method",
    "cs-user-agent": "UserAgent",
    "cs-host": "ServerHostName",
    "sc-status": "HttpStatus",
    "c-ip": "ClientIpAddress",
    "s-ip": "ServerIpAddress",
    "cs-username": "AuthenticatedUser",
    "cs-cookie": "Cookie",
    "cs-referer": "Referer",
}


_NO_QUERY = frozenset({"cs-uri-query"})
# The client's country (ISO code), when a GeoIP database is configured (agent.geoip).
COUNTRY_FIELD = "c-country"


def _web(
    fields: Mapping[str, str],
    columns: Mapping[str, str],
    stem_col: str,
    query_col: str,
    keywords: str,
) -> Event:
    query = _value(fields, query_col)
    stem_values, query_values = _uri(_value(fields, stem_col), query)

    def lookup(field: str) -> tuple[str, ...]:
        if field == "cs-uri-query":
            return query_values
        if field == "cs-uri-stem":
            return stem_values
        if field == COUNTRY_FIELD:
            found = geoip.country(_value(fields, columns.get("c-ip", "c-ip")))
            return (found,) if found else ()
        value = _value(fields, columns.get(field, field))
        return (value,) if value else ()

    return Event(lookup, keywords, frozenset() if query.strip("?") else _NO_QUERY)


# The Success column of a cmdlet log row -> how the MSExchange Management event words the
# outcome, and that event's id (1: succeeded, 6: failed).
_OUTCOME = {"true": ("succeeded", "1"), "false": ("failed", "6")}

# "Cmdlet succeeded. Cmdlet X, parameters Y" (the event's rendered message); the verb sentence
# is optional so that our own composed "Cmdlet X, parameters Y" parses too.
_MANAGEMENT_TEXT = re.compile(
    r"(?:Cmdlet\s+(?:succeeded|failed)[^.]*\.\s*)?Cmdlet\s+(?P<cmdlet>\S+?),\s*parameters\s*"
    r"(?P<params>.*?)\s*$",
    re.DOTALL | re.IGNORECASE,
)


def _management_text(fields: Mapping[str, str]) -> str:
    """A cmdlet-log row as the MSExchange Management event would word it: "Cmdlet succeeded.
    Cmdlet X, parameters Y" when the row says whether it succeeded, else "Cmdlet X, parameters
    Y"."""
    cmdlet = _value(fields, "Cmdlet")
    params = _value(fields, "Parameters")
    if not cmdlet:
        return params
    outcome = _OUTCOME.get(_value(fields, "Success").casefold())
    text = f"Cmdlet {cmdlet}, parameters {params}"
    return f"Cmdlet {outcome[0]}. {text}" if outcome else text


def management_event(fields: Mapping[str, str], *, from_log: bool = False) -> Event:
    """An MSExchange Management event, or a cmdlet-log row (``from_log``), as
    ``msexchange-management`` rules see it.

    Both kinds offer the same names, whichever the source filled:

    - ``Cmdlet`` and ``Parameters``: the cmdlet log's columns, and what
      ``agent.winevent.mapping`` extracts from the event; parsed from the text when only the
      text is given;
    - ``Data``, ``Message`` (and ``message``): the event's full text, "Cmdlet succeeded. Cmdlet
      X, parameters Y" (Sigma rules for this service test ``Data|contains``); a field the
      source left empty falls back to the text, and for a log row the text is composed from
      the columns (with the outcome when the row has ``Success``);
    - ``EventID``: as given; for a log row, 1 (succeeded) or 6 (failed) from ``Success``.

    Keyword rules search that text (not the other fields: a keyword like ``Exchange`` must not
    match the provider name of every event).
    """
    if from_log:
        text = _management_text(fields)
        outcome = _OUTCOME.get(_value(fields, "Success").casefold())
        event_id = outcome[1] if outcome else ""
    else:
        text = _value(fields, "Message") or _value(fields, "Data") or _value(fields, "message")
        if not text:
            cmdlet = _value(fields, "Cmdlet")
            params = _value(fields, "Parameters")
            verb = {"1": "succeeded", "6": "failed"}.get(_value(fields, "EventID"))
            text = f"Cmdlet {cmdlet}, parameters {params}" if cmdlet else params
            if verb and cmdlet:
                text = f"Cmdlet {verb}. {text}"
        event_id = ""
    parsed = _MANAGEMENT_TEXT.search(text) if text else None
    derived = {
        "Cmdlet": parsed["cmdlet"] if parsed else "",
        "Parameters": parsed["params"] if parsed else "",
        "EventID": event_id,
    }

    def lookup(field: str) -> tuple[str, ...]:
        if field in ("Data", "Message", "message"):
            value = "" if from_log else _value(fields, field)
            value = value or text
        else:
            value = _value(fields, field) or derived.get(field, "")
        return (value,) if value else ()

    return Event(lookup, text or " ".join(v for v in fields.values() if v))


# Windows event levels (System/Level) by number, as Event Viewer names them: Sigma rules write
# either ``Level: 2`` or ``Level: Error``.
_LEVEL_NAMES = {
    "0": "Information",  # LogAlways; Event Viewer shows it as Information
    "1": "Critical",
    "2": "Error",
    "3": "Warning",
    "4": "Information",
    "5": "Verbose",
}


def application_event(fields: Mapping[str, str]) -> Event:
    """A Windows Application-channel event as ``application`` rules see it.

    Fields are the event's own (``Provider_Name``, ``EventID``, the data items, ...). ``Level``
    offers both the number and its name (``2`` and ``Error``). ``Data`` (all data items joined)
    and ``Message`` (the rendered text) each fall back to the other, because which one holds
    the exception text depends on whether the event was rendered where it was read.
    """
    native = _native(fields)

    def lookup(field: str) -> tuple[str, ...]:
        if field == "Level":
            level = _value(fields, "Level").strip()
            name = _LEVEL_NAMES.get(level)
            return tuple(v for v in (level, name) if v)
        if field in ("Data", "Message"):
            other = "Message" if field == "Data" else "Data"
            value = _value(fields, field) or _value(fields, other)
            return (value,) if value else ()
        return native(field)

    return Event(lookup, " ".join(v for v in fields.values() if v), decode=False)


# Image-valued process fields: rules test them with ``|endswith: '\\cmd.exe'``.
_IMAGE_FIELDS = frozenset({"Image", "ParentImage"})


def _basename(path: str) -> str:
    return path.replace("/", "\\").rsplit("\\", 1)[-1]


def process_event(fields: Mapping[str, str]) -> Event:
    """A process creation as ``process_creation`` rules see it (Sysmon event 1 names).

    Sources differ in what they know, so two gaps are bridged:

    - ``Image`` / ``ParentImage`` holding a bare name (psutil could not read the path, or the
      4688 parent is named only) also offer ``\\name``, so that the usual
      ``Image|endswith: '\\cmd.exe'`` holds; an exact full-path match still needs the path;
    - ``OriginalFileName`` (PE version information; only Sysmon has it) falls back to the
      image's file name, so ``OriginalFileName: 'net.exe'`` holds for a ``net.exe`` that was
      not renamed. A renamed binary is caught only where Sysmon reports the real name.

    ``AppPool`` (our own field: the IIS application pool of the nearest w3wp, from
    :func:`agent.sources.processes.process_fields`) is offered as given.
    """
    native = _native(fields)

    def lookup(field: str) -> tuple[str, ...]:
        values = native(field)
        if field in _IMAGE_FIELDS and values:
            value = values[0]
            if "\\" not in value and "/" not in value:
                return (value, "\\" + value)
        elif field == "OriginalFileName" and not values:
            image = _value(fields, "Image")
            name = _basename(image) if image else ""
            return (name,) if name else ()
        return values

    return Event(lookup, " ".join(v for v in fields.values() if v), decode=False)


# Per record source, how the webserver channel reads it: taxonomy name -> column, the URI
# stem's column and the query's. Other sources are read with IIS names.
_WEB_LAYOUTS: dict[str, tuple[Mapping[str, str], str, str]] = {
    "iis": (_IIS_WEB, "cs-uri-stem", "cs-uri-query"),
    "httpproxy": (_PROXY_WEB, "UrlStem", "UrlQuery"),
}


def event_from_record(record: LogRecord, channel: str) -> Event:
    """The view of ``record`` that rules of ``channel`` evaluate."""
    fields = record.fields
    if channel == "webserver":
        columns, stem, query = _WEB_LAYOUTS.get(record.source, _WEB_LAYOUTS["iis"])
        return _web(fields, columns, stem, query, record.raw)
    if channel == "msexchange-management":
        return management_event(fields, from_log=True)
    return Event(_native(fields), record.raw)


def record_columns(source: str, channel: str, names: Sequence[str]) -> tuple[str, ...] | None:
    """The columns of a ``source`` record that :func:`event_from_record`'s ``channel`` view
    reads for the fields ``names``: two records equal in these columns are equal under those
    names. None when the view reads more than the record (the client's country depends on the
    GeoIP database) or composes its values from several columns (management events)."""
    if channel == "msexchange-management":
        return None
    if channel != "webserver":
        return tuple(names)
    columns, stem, query = _WEB_LAYOUTS.get(source, _WEB_LAYOUTS["iis"])
    out: list[str] = []
    for name in names:
        if name == COUNTRY_FIELD:
            return None
        if name in ("cs-uri-stem", "cs-uri-query"):
            out += (stem, query)  # each offers both (see _uri)
        else:
            out.append(columns.get(name, name))
    return tuple(dict.fromkeys(out))


def event_from_fields(channel: str, fields: Mapping[str, str]) -> Event:
    """The view of a non-log event (process creation, MSExchange Management or Application
    event) given as field -> value."""
    if channel == "webserver":
        return _web(fields, {}, "cs-uri-stem", "cs-uri-query", " ".join(fields.values()))
    if channel == "process_creation":
        return process_event(fields)
    if channel == "msexchange-management":
        return management_event(fields)
    if channel == "application":
        return application_event(fields)
    keywords = " ".join(v for v in fields.values() if v)
    return Event(_native(fields), keywords)
