"""Countries of client addresses, from an offline MaxMind-format database when one is set.

None is required: without one, every address has no country and the rules that count
countries (``account_many_countries.yml``) never fire. The database is read where it lies
(GeoLite2-Country or -City, or any MMDB whose records carry ``country.iso_code``); nothing is
downloaded. Rules see the country as the webserver field ``c-country`` (see
:mod:`agent.sigma.fieldmap`), so it can be grouped or counted like any other field.
"""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path
from typing import Any

import maxminddb

from agent.errors import AgentError

__all__ = ["GeoIPError", "country", "set_database"]

_CACHE_LIMIT = 65_536  # addresses remembered (clients repeat a lot)


class GeoIPError(AgentError):
    """The configured GeoIP database cannot be read."""


class _Countries:
    def __init__(self, path: Path) -> None:
        try:
            self._reader: Any = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise GeoIPError(f"GeoIP database {path}: {exc}") from exc
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def country(self, address: str) -> str:
        cached = self._cache.get(address)
        if cached is not None:
            return cached
        found = self._lookup(address)
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[address] = found
        return found

    def _lookup(self, address: str) -> str:
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return ""
        if not ip.is_global:
            return ""  # the LAN, loopback, documentation ranges: no country
        try:
            record = self._reader.get(ip)
        except (ValueError, maxminddb.InvalidDatabaseError):
            return ""
        if not isinstance(record, dict):
            return ""
        for key in ("country", "registered_country"):
            place = record.get(key)
            if isinstance(place, dict) and isinstance(place.get("iso_code"), str):
                return str(place["iso_code"]).upper()
        return ""

    def close(self) -> None:
        self._reader.close()


_current: _Countries | None = None


def set_database(path: Path | None) -> None:
    """Use the database at ``path`` from now on (None: no countries). Raises GeoIPError."""
    global _current
    new = _Countries(path) if path is not None else None
    old, _current = _current, new
    if old is not None:
        old.close()


def country(address: str) -> str:
    """The ISO country code of ``address`` ("DE"), or "" (no database, not a public address,
    not in the database)."""
    current = _current
    return current.country(address) if current is not None else ""
