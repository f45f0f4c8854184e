"""Collector configuration: an optional TOML file, overridden by command-line options."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from collector.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:50051"
DAY_NS = 86_400 * 10**9


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """[store]: where the store lives. No DSN: a SQLite file in data_dir. A PostgreSQL DSN
    (``postgresql://user:password@host/db``) lets several collectors share one store; its
    password is never logged."""

    dsn: str = ""
    max_connections: int = 8  # PostgreSQL connections per pool (store, console, notify)
    # A file holding the DSN's password (a container secret), so the config file need not
    password_file: str = ""


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """[retention]: events older than ``events_days`` are deleted (0: kept forever), per
    tenant where ``[retention.tenants]`` names a number of days. Events that are evidence
    of an alert stay while ``keep_alert_evidence`` (alerts themselves are never pruned)."""

    events_days: int = 0
    tenants: dict[str, int] = field(default_factory=dict)
    keep_alert_evidence: bool = True
    batch_size: int = 1000  # events deleted per short transaction: ingest never waits long
    interval_seconds: float = 60.0

    def cutoffs_ns(self, tenants: list[str], now_ns: int) -> dict[str, int]:
        """Per tenant, the received time before which its events go (tenants kept
        forever are left out)."""
        out: dict[str, int] = {}
        for tenant in tenants:
            days = self.tenants.get(tenant, self.events_days)
            if days > 0:
                out[tenant] = now_ns - days * DAY_NS
        return out


DEFAULT_ENROLL_LISTEN = "127.0.0.1:50052"


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    # Agents' event stream: mutual TLS (plain gRPC only with insecure_loopback).
    listen: str = DEFAULT_LISTEN
    # Enrollment: server-authenticated TLS; a separate port because a TLS port either
    # demands client certificates or never asks for them.
    enroll_listen: str = DEFAULT_ENROLL_LISTEN
    data_dir: Path = Path("var")
    # The web console and JSON API; empty: off. Put TLS in front (a reverse proxy) and set
    # secure_cookies when it is reached over the network.
    console_listen: str = "127.0.0.1:8080"
    secure_cookies: bool = False
    # CA and server certificate (exwatch-collector init). Default: <data_dir>/pki.
    pki_dir: Path | None = None
    # Plain gRPC on a loopback address, no enrollment: the local demo only.
    insecure_loopback: bool = False
    agent_cert_days: int = 30
    # A host that has sent nothing for this long is offline (agents beat every 30 s).
    offline_after_seconds: int = 180
    max_message_bytes: int = 16 * 1024 * 1024
    max_batch_events: int = 5000
    # Processes that commit agents' batches (parse, match, insert) beside the one serving
    # gRPC; 0: that one process does all. Each spreads ingest over one more core.
    ingest_workers: int = field(default_factory=lambda: default_ingest_workers())
    # Alert routing: channels and routes (the [notify] table; see collector.sample.toml).
    notify: dict[str, Any] = field(default_factory=dict)
    store: StoreConfig = field(default_factory=StoreConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)

    @property
    def store_path(self) -> Path:
        """The SQLite file (when no PostgreSQL DSN is set)."""
        return self.data_dir / "exwatch.db"

    @property
    def store_target(self) -> Path | str:
        """What the store opens: the PostgreSQL DSN if one is set (with the password from
        ``password_file`` when given), else the SQLite file."""
        if not self.store.dsn:
            return self.store_path
        if not self.store.password_file:
            return self.store.dsn
        try:
            password = Path(self.store.password_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"cannot read the password file: {exc}", key="store.password_file"
            ) from None
        parts = urlsplit(self.store.dsn)
        if not parts.username:
            raise ConfigError(
                "password_file needs a user name in the DSN (postgresql://USER@host/db)",
                key="store.dsn",
            )
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{parts.username}:{quote(password, safe='')}@{host}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def pki_path(self) -> Path:
        return self.pki_dir or self.data_dir / "pki"


def default_ingest_workers() -> int:
    """Two on a machine with more than one core. One alone gains nothing (it does what the
    front did); past two, SQLite's inserts, which take turns, are the limit."""
    return 2 if (os.cpu_count() or 1) > 1 else 0


def parse_listen(listen: str, key: str = "listen") -> tuple[str, int]:
    """Split HOST:PORT (IPv6 as [::1]:PORT) and check both parts."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"expected HOST:PORT, got {listen!r}", key=key)
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(path: Path | None, **overrides: Any) -> CollectorConfig:
    """Read ``path`` (if given) and apply non-None overrides. Unknown keys are errors."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config: {exc}", file=str(path)) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from exc
        known = {f.name: f for f in fields(CollectorConfig)}
        for key, value in raw.items():
            if key not in known:
                raise ConfigError(
                    f"unknown setting; known: {', '.join(known)}", key=key, file=str(path)
                )
            values[key] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("data_dir", "pki_dir"):
        if key in values and values[key] is not None:
            values[key] = Path(values[key])
    if "notify" in values and not isinstance(values["notify"], dict):
        raise ConfigError("must be a table", key="notify")
    for key in ("insecure_loopback", "secure_cookies"):
        if key in values and not isinstance(values[key], bool):
            raise ConfigError("must be true or false", key=key)
    for key in (
        "max_message_bytes",
        "max_batch_events",
        "agent_cert_days",
        "offline_after_seconds",
    ):
        if key in values and (not isinstance(values[key], int) or values[key] <= 0):
            raise ConfigError(
                "must be a positive integer", key=key, file=str(path) if path else None
            )
    if "ingest_workers" in values and (
        type(values["ingest_workers"]) is not int or not 0 <= values["ingest_workers"] <= 64
    ):
        where = str(path) if path else None
        raise ConfigError("must be an integer from 0 to 64", key="ingest_workers", file=where)
    if "store" in values:
        values["store"] = _store_config(values["store"], path)
    if "retention" in values:
        values["retention"] = _retention_config(values["retention"], path)
    config = CollectorConfig(**values)
    parse_listen(config.listen)
    parse_listen(config.enroll_listen, "enroll_listen")
    if config.console_listen:
        parse_listen(config.console_listen, "console_listen")
    return config


def _table(raw: Any, key: str, cls: type[Any], path: Path | None) -> dict[str, Any]:
    if isinstance(raw, cls):
        return {f.name: getattr(raw, f.name) for f in fields(cls)}
    if not isinstance(raw, dict):
        raise ConfigError("must be a table", key=key, file=str(path) if path else None)
    known = {f.name for f in fields(cls)}
    for name in raw:
        if name not in known:
            raise ConfigError(
                f"unknown setting; known: {', '.join(sorted(known))}",
                key=f"{key}.{name}",
                file=str(path) if path else None,
            )
    return dict(raw)


def _positive(value: Any, key: str, path: Path | None, *, zero: bool = False) -> None:
    ok = (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (value >= 0 if zero else value > 0)
    )
    if not ok:
        what = "a whole number of 0 or more" if zero else "a positive integer"
        raise ConfigError(f"must be {what}", key=key, file=str(path) if path else None)


def _store_config(raw: Any, path: Path | None) -> StoreConfig:
    values = _table(raw, "store", StoreConfig, path)
    dsn = values.get("dsn", "")
    if not isinstance(dsn, str) or (dsn and not dsn.startswith(("postgresql://", "postgres://"))):
        raise ConfigError(
            "must be a postgresql:// URL (or empty for SQLite in data_dir)",
            key="store.dsn",
            file=str(path) if path else None,
        )
    _positive(values.get("max_connections", 8), "store.max_connections", path)
    if not isinstance(values.get("password_file", ""), str):
        raise ConfigError("must be a file path", key="store.password_file", file=str(path))
    return StoreConfig(**values)


def _retention_config(raw: Any, path: Path | None) -> RetentionConfig:
    values = _table(raw, "retention", RetentionConfig, path)
    _positive(values.get("events_days", 0), "retention.events_days", path, zero=True)
    _positive(values.get("batch_size", 1000), "retention.batch_size", path)
    interval = values.get("interval_seconds", 60.0)
    if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
        raise ConfigError(
            "must be a positive number",
            key="retention.interval_seconds",
            file=str(path) if path else None,
        )
    values["interval_seconds"] = float(interval)
    if not isinstance(values.get("keep_alert_evidence", True), bool):
        raise ConfigError(
            "must be true or false",
            key="retention.keep_alert_evidence",
            file=str(path) if path else None,
        )
    tenants = values.get("tenants", {})
    if not isinstance(tenants, dict):
        raise ConfigError(
            "must be a table", key="retention.tenants", file=str(path) if path else None
        )
    for tenant, days in tenants.items():
        _positive(days, f"retention.tenants.{tenant}", path, zero=True)
    values["tenants"] = dict(tenants)
    return RetentionConfig(**values)
