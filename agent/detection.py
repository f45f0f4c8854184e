"""What a detector found: the one result type every agent detector returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """Ordered so that comparisons read naturally (``sev >= Severity.HIGH``).

    Values equal the wire enum ``exwatch.v1.Severity``.
    """

    INFORMATIONAL = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse a Sigma ``level`` or YARA ``severity`` meta value (case-insensitive)."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}") from None


@dataclass(frozen=True, slots=True)
class Detection:
    """One rule that matched one record, file or process."""

    rule_id: str
    title: str
    severity: Severity
    tags: tuple[str, ...] = ()
    engine: str = "sigma"  # "sigma" | "yara" | "hash" | "builtin"
