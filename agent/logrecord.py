"""One parsed line of an IIS or Exchange log: the unit that log detection works on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A parsed log line with its columns under the log's own (native) names.

    ``source`` is one of: ``iis``, ``httpproxy``, ``ecp``, ``oab``, ``rps_http``,
    ``cmdlet``. ``line`` is 1-based within ``file``.
    """

    source: str
    fields: Mapping[str, str]
    file: str
    line: int
    raw: str
