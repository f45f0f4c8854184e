"""Console settings: what the collector passes to ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    db_path: Path | str  # the store: a SQLite file, or a PostgreSQL DSN
    # Mark cookies Secure (and use the __Host- prefix). Turn on whenever the console is
    # reached over https (directly or behind a TLS-terminating proxy); browsers refuse to
    # send Secure cookies over plain http, so it must stay off for http://127.0.0.1.
    secure_cookies: bool = False
    # A session unused this long is gone; one this old is gone however busy it is.
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # An agent heartbeats every 30 s: three missed heartbeats make it "offline".
    offline_after_seconds: int = 90
    # How often the alert queue asks for new rows (htmx polling; no JS needed otherwise).
    live_poll_seconds: float = 3.0
    # Read connections (and worker threads) for console queries; WAL lets them run beside
    # the collector's single writer.
    read_workers: int = 4
    # Failed logins per username (and per client address) within the window before
    # further attempts get 429 for the rest of the window.
    login_max_failures: int = 10
    login_window_seconds: int = 300
    # Evidence rows shown on an alert page (an alert can carry thousands of events).
    timeline_limit: int = 500
    title: str = "exwatch"
