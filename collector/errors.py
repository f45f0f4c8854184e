"""The collector's one exception tree."""

from __future__ import annotations


class CollectorError(Exception):
    """Base of every error the collector raises on purpose."""


class ConfigError(CollectorError):
    """A configuration file or option is wrong; ``key`` names the setting."""

    def __init__(self, message: str, *, key: str | None = None, file: str | None = None) -> None:
        self.key = key
        self.file = file
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class StoreError(CollectorError):
    """The store refused an operation (schema too new, database unreadable...)."""


class NotFound(CollectorError):
    """No such object (or not visible to the caller's tenant)."""
