"""The flat view of a committed event that correlation rules' base rules match against.

One dictionary of field name to value (or tuple of values) per event, built from the wire
event and the agent it came from. Joins across events need equal keys, so the values that
rules group by (``page``, ``url_path``, ``sha256``) are case-folded and written the same way
whether they came from a file path or a request line.

Fields, by ``kind``:

- every event: ``kind``, ``tenant``, ``host``, ``agent_id``, ``rule_id`` and ``tags`` (of the
  rules that matched on the host), ``severity`` (the highest of them: informational... critical,
  or ``none``), ``retro`` (``true`` when found by a retro-hunt);
- ``file``: ``action`` (created, modified, deleted, moved), ``path``, ``old_path``, ``root``,
  ``root_kind``, ``page`` (the file name), ``extension``, ``url_path`` (where IIS serves it,
  when it lies under a web root), ``sha256``, ``verdict`` (clean, suspicious, malicious,
  unscanned), ``mass_change`` (``true`` when it settled in a burst: a deployment or a patch);
- ``log``: ``source``, ``method``, ``url_path``, ``page``, ``query``, ``status``, ``client_ip``,
  ``user_agent``, ``user``, and every raw field as ``log.<name>``;
- ``process``: ``process_name``, ``parent_name``, ``ancestors``, ``cmdline``, ``user``;
- ``sensor``: ``sensor``, ``sensor_kind``; ``action``: ``action``, ``path``, ``ok``;
- ``correlation`` (an agent's own count over many records): ``source``, ``values``, ``count``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from urllib.parse import unquote

from protos import exwatch_pb2 as pb

Value = str | tuple[str, ...]
FlatEvent = Mapping[str, Value]

# An extension in a burst at least this large is a deployment, not a drop (the same bound
# as the per-event mass-change alert).
MASS_CHANGE_FILES = 20

SEVERITY_WORDS: dict[int, str] = {
    pb.SEVERITY_INFORMATIONAL: "informational",
    pb.SEVERITY_LOW: "low",
    pb.SEVERITY_MEDIUM: "medium",
    pb.SEVERITY_HIGH: "high",
    pb.SEVERITY_CRITICAL: "critical",
}
# Folders under which IIS serves the files as URLs: the URL starts after the marker.
_WEB_PREFIXES = ("/frontend/httpproxy/", "/clientaccess/", "/wwwroot/")
# (flat field, raw field names of the formats that carry it: IIS W3C, then Exchange CSV).
_LOG_FIELDS = {
    "method": ("cs-method", "Method"),
    "query": ("cs-uri-query", "UrlQuery"),
    "status": ("sc-status", "HttpStatus"),
    "client_ip": ("c-ip", "ClientIpAddress"),
    "user_agent": ("cs(User-Agent)", "UserAgent", "ClientInfo"),
    "user": ("cs-username", "AuthenticatedUser"),
}

# The raw fields of the request path (url_path, page), IIS W3C then Exchange CSV.
_STEM_COLUMNS = ("cs-uri-stem", "UrlStem")


# The fields computed from what matched on the host (the view's second part).
_MATCH_PART = frozenset({"rule_id", "tags", "severity", "retro"})


class EventView(Mapping[str, Value]):
    """The flat view, computed in parts as rules ask for them: the kind and origin first,
    then what matched on the host, then the body. Most events fail every base rule on those
    first parts, and ingest stays fast."""

    __slots__ = ("_complete", "_event", "_fields", "_matched")

    def __init__(self, tenant: str, agent_id: str, hostname: str, event: pb.Event) -> None:
        self._event = event
        self._fields: dict[str, Value] = {
            "kind": event.WhichOneof("body") or "unknown",
            "tenant": tenant,
            "host": hostname,
            "agent_id": agent_id,
        }
        self._matched = self._complete = False

    def get(self, key: str, default: Value | None = None) -> Value | None:  # type: ignore[override]
        value = self._fields.get(key)  # the hot path: kind and origin
        if value is not None:
            return value
        try:
            return self[key]
        except KeyError:
            return default

    def __getitem__(self, key: str) -> Value:
        value = self._fields.get(key)
        if value is not None:
            return value
        if key in _MATCH_PART:
            self._add_matches()
        elif key.startswith("log."):
            raw = self._event.log.fields if self._event.HasField("log") else {}
            if key[4:] in raw:
                return raw[key[4:]]
            raise KeyError(key)
        elif key in _LOG_GETTERS and self._fields["kind"] == "log":
            # One field of a log record, without the rest (most records are plain requests
            # that one rule looks at).
            value = self._fields[key] = _LOG_GETTERS[key](self._event.log)
            return value
        elif not self._complete:
            self._fields |= _body(self._event)
            self._complete = True
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        self._add_matches()
        if not self._complete:
            self._fields |= _body(self._event)
            self._complete = True
        raw = self._event.log.fields if self._event.HasField("log") else {}
        return iter([*self._fields, *(f"log.{name}" for name in raw)])

    def _add_matches(self) -> None:
        if not self._matched:
            self._fields |= _matches(self._event)
            self._matched = True

    def __len__(self) -> int:
        return len(list(iter(self)))


def _matches(event: pb.Event) -> dict[str, Value]:
    top = max((int(m.severity) for m in event.matches), default=0)
    return {
        "rule_id": tuple(m.rule_id for m in event.matches),
        "tags": tuple(sorted({t for m in event.matches for t in m.tags})),
        "severity": SEVERITY_WORDS.get(top, "none"),
        "retro": "true" if event.retro else "false",
    }


def _body(event: pb.Event) -> dict[str, Value]:
    flat: dict[str, Value] = {}
    if event.HasField("file"):
        flat |= _file(event.file)
    elif event.HasField("log"):
        flat |= _log(event.log)
    elif event.HasField("process"):
        p = event.process
        ancestors = tuple(_name(a.name) for a in p.ancestors)
        flat |= {
            "process_name": _name(p.name),
            "parent_name": ancestors[0] if ancestors else "",
            "ancestors": ancestors,
            "cmdline": p.cmdline,
            "user": p.user,
        }
    elif event.HasField("sensor"):
        flat |= {"sensor": event.sensor.sensor, "sensor_kind": event.sensor.kind}
    elif event.HasField("action"):
        a = event.action
        flat |= {"action": a.action, "path": a.path, "ok": "true" if a.ok else "false"}
    elif event.HasField("correlation"):
        c = event.correlation
        flat |= {"source": c.source, "values": tuple(c.values), "count": str(c.count)}
    return flat


def url_of(host_path: str) -> str:
    """Where IIS serves a file under a web root (``/owa/auth/x.aspx``), or ``""``."""
    path = host_path.replace("\\", "/").casefold()
    for marker in _WEB_PREFIXES:
        at = path.find(marker)
        if at >= 0:
            return "/" + path[at + len(marker) :]
    return ""


def _file(f: pb.FileEvent) -> dict[str, Value]:
    page = _last(f.path)
    dot = page.rfind(".")
    return {
        "action": pb.FileAction.Name(f.action).removeprefix("FILE_ACTION_").lower(),
        "path": f.path,
        "old_path": f.old_path,
        "root": f.root,
        "root_kind": f.root_kind or "webroot",
        "page": page,
        "extension": page[dot:] if dot > 0 else "",
        "url_path": url_of(f.path),
        "sha256": f.sha256.lower(),
        "verdict": pb.Verdict.Name(f.verdict)
        .removeprefix("VERDICT_")
        .lower()
        .replace("unspecified", "unscanned"),
        "mass_change": "true" if f.burst >= MASS_CHANGE_FILES else "false",
    }


def log_columns(fields: Iterable[str]) -> tuple[str, ...] | None:
    """The raw columns from which the view of a log record computes ``fields`` (``kind`` and
    ``source`` aside): two records of one source equal in these columns are equal in those
    fields. None when one comes from elsewhere (the agent, the host rules' matches)."""
    columns: list[str] = []
    for field in fields:
        if field in ("kind", "source"):
            continue
        if field.startswith("log."):
            columns.append(field[4:])
        elif field in ("url_path", "page"):
            columns += _STEM_COLUMNS
        elif field in _LOG_FIELDS:
            columns += _LOG_FIELDS[field]
        else:
            return None
    return tuple(dict.fromkeys(columns))


def _log(record: pb.LogRecordEvent) -> dict[str, Value]:
    return {name: get(record) for name, get in _LOG_GETTERS.items()}


def _url_path(record: pb.LogRecordEvent) -> str:
    fields = record.fields
    stem = fields.get(_STEM_COLUMNS[0]) or fields.get(_STEM_COLUMNS[1]) or ""
    return unquote(stem.replace("+", " ")).casefold()


def _raw(name: str) -> Callable[[pb.LogRecordEvent], str]:
    raw_names = _LOG_FIELDS[name]

    def get(record: pb.LogRecordEvent) -> str:
        fields = record.fields
        for raw_name in raw_names:
            value = fields.get(raw_name, "-")
            if value != "-":  # IIS writes "-" for an empty field
                return value
        return ""

    return get


_LOG_GETTERS: dict[str, Callable[[pb.LogRecordEvent], Value]] = {
    "source": lambda record: record.source,
    "url_path": _url_path,
    "page": lambda record: _last(_url_path(record)),
    **{name: _raw(name) for name in _LOG_FIELDS},
    # IIS writes spaces in the user agent as '+'.
    "user_agent": lambda record: _raw("user_agent")(record).replace("+", " "),
}


def _last(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1].rstrip(". ").casefold()


def _name(image: str) -> str:
    return _last(image)
