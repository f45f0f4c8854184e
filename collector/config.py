"""Collector configuration: an optional TOML file, overridden by command-line options."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from collector.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:50051"
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
    # Alert routing: channels and routes (the [notify] table; see collector.sample.toml).
    notify: dict[str, Any] = field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        return self.data_dir / "exwatch.db"

    @property
    def pki_path(self) -> Path:
        return self.pki_dir or self.data_dir / "pki"


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
    config = CollectorConfig(**values)
    parse_listen(config.listen)
    parse_listen(config.enroll_listen, "enroll_listen")
    if config.console_listen:
        parse_listen(config.console_listen, "console_listen")
    return config
