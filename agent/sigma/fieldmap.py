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
  "Cmdlet X, parameters ..."); cmdlet-log rows and MSExchange Management events.
- ``process_creation``: Sysmon-style fields (``Image``, ``CommandLine``, ...) via
  :meth:`SigmaRuleSet.match_event`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from agent.logrecord import LogRecord
from agent.sigma.matcher import normalize, normalize_folded

__all__ = [
    "EVENT_CHANNELS",
    "EXCHANGE_SERVICES",
    "Event",
    "channel_for_logsource",
    "channels_for_source",
    "event_from_fields",
    "event_from_record",
]

EXCHANGE_SERVICES = frozenset({"httpproxy", "ecp", "oab", "rps_http", "cmdlet"})
# Channels that no log record feeds but match_event() accepts (other agent sources).
EVENT_CHANNELS = frozenset({"process_creation", "msexchange-management", "webserver"})

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
    return None


class Event:
    """One record as a channel sees it: Sigma field name -> values, normalised lazily.

    A field may hold several values (the IIS URI is offered both as the stem alone and as
    ``stem?query``); a condition on it holds when it holds for any of them. A field whose log
    column is empty or ``-`` is absent (Sigma ``null``).
    """

    __slots__ = (
        "_absent",
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
    ) -> None:
        self._lookup = lookup
        # Fields that carry values for matching but whose own log column was empty (the IIS
        # query offers the stem for "contains" yet is null when the request had no query).
        self._absent = absent
        self._raw: dict[str, tuple[str, ...]] = {}
        self._decoded: dict[str, tuple[str, ...]] = {}
        self._folded: dict[str, tuple[str, ...]] = {}
        self._keywords = (keywords,)
        self._kw_decoded: tuple[str, ...] | None = None
        self._kw_folded: tuple[str, ...] | None = None

    def raw(self, field: str) -> tuple[str, ...]:
        try:
            return self._raw[field]
        except KeyError:
            values = self._raw[field] = self._lookup(field)
            return values

    def decoded(self, field: str) -> tuple[str, ...]:
        try:
            return self._decoded[field]
        except KeyError:
            values = self._decoded[field] = tuple(normalize(v) for v in self.raw(field))
            return values

    def folded(self, field: str) -> tuple[str, ...]:
        try:
            return self._folded[field]
        except KeyError:
            values = self._folded[field] = tuple(v.casefold() for v in self.decoded(field))
            return values

    def present(self, field: str) -> bool:
        return field not in self._absent and any(self.raw(field))

    def keywords_raw(self) -> tuple[str, ...]:
        return self._keywords

    def keywords_decoded(self) -> tuple[str, ...]:
        if self._kw_decoded is None:
            self._kw_decoded = (normalize(self._keywords[0]),)
        return self._kw_decoded

    def keywords_folded(self) -> tuple[str, ...]:
        if self._kw_folded is None:
            self._kw_folded = (normalize_folded(self._keywords[0]),)
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
        value = _value(fields, columns.get(field, field))
        return (value,) if value else ()

    return Event(lookup, keywords, frozenset() if query.strip("?") else _NO_QUERY)


def _management_text(fields: Mapping[str, str]) -> str:
    """A cmdlet-log row as the MSExchange Management event would word it."""
    cmdlet = _value(fields, "Cmdlet")
    params = _value(fields, "Parameters")
    return f"Cmdlet {cmdlet}, parameters {params}" if cmdlet else params


def event_from_record(record: LogRecord, channel: str) -> Event:
    """The view of ``record`` that rules of ``channel`` evaluate."""
    fields = record.fields
    if channel == "webserver":
        if record.source == "httpproxy":
            return _web(fields, _PROXY_WEB, "UrlStem", "UrlQuery", record.raw)
        return _web(fields, _IIS_WEB, "cs-uri-stem", "cs-uri-query", record.raw)
    if channel == "msexchange-management":
        text = _management_text(fields)
        native = _native(fields)

        def lookup(field: str) -> tuple[str, ...]:
            if field in ("Data", "Message", "message"):
                return (text,) if text else ()
            return native(field)

        return Event(lookup, text)
    return Event(_native(fields), record.raw)


def event_from_fields(channel: str, fields: Mapping[str, str]) -> Event:
    """The view of a non-log event (process creation, MSExchange Management event)."""
    if channel == "webserver":
        return _web(fields, {}, "cs-uri-stem", "cs-uri-query", " ".join(fields.values()))
    keywords = " ".join(v for v in fields.values() if v)
    return Event(_native(fields), keywords)
