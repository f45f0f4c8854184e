"""Webshell content verdicts: YARA rules (yara-x) and SHA-256 lists for web-root files."""

from __future__ import annotations

from agent.content.hashlists import HashListError
from agent.content.rules import RuleError, RuleProblem
from agent.content.scanner import ContentScanner, ScanResult, Verdict, verdict_for

__all__ = [
    "ContentScanner",
    "HashListError",
    "RuleError",
    "RuleProblem",
    "ScanResult",
    "Verdict",
    "verdict_for",
]
