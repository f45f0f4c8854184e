"""Read Sigma rule files and folders with pySigma; every error names its file and rule.

Two kinds of trouble are kept apart:

- *broken* rules (not YAML, not valid Sigma): :class:`RuleError`, raised unless the caller asked
  to collect errors, because a typo in an operator's own rule should stop a deployment;
- *unsupported* rules (valid Sigma for a logsource the agent does not observe, or a feature the
  matcher cannot evaluate): skipped and reported as :class:`RuleProblem`, never raised, because
  a folder of third-party rules always contains some.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from agent.errors import AgentError

__all__ = [
    "LoadedRule",
    "RuleError",
    "RuleProblem",
    "builtin_rules_dir",
    "iter_rule_files",
    "load_rule_files",
]

RULE_SUFFIXES = (".yml", ".yaml")


class RuleError(AgentError):
    """A rule file that cannot be used. ``file`` and ``rule_id`` say which."""

    def __init__(self, reason: str, *, file: str, rule_id: str | None = None) -> None:
        self.reason = reason
        self.file = file
        self.rule_id = rule_id
        where = f"{file} (rule {rule_id})" if rule_id else file
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """A rule that was not loaded, and why. ``kind`` is ``error`` or ``unsupported``."""

    file: str
    rule_id: str | None
    title: str | None
    kind: str
    reason: str

    def __str__(self) -> str:
        who = self.rule_id or "?"
        if self.title:
            who += f" {self.title!r}"
        return f"{self.file}: rule {who}: {self.kind}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LoadedRule:
    """One parsed rule (a detection or a correlation rule) and where it came from."""

    rule: SigmaRule | SigmaCorrelationRule
    file: Path


def builtin_rules_dir() -> Path:
    """The folder holding the rules shipped with the agent."""
    return Path(str(resources.files("agent") / "rules" / "sigma"))


def iter_rule_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Every rule file named or found (recursively, sorted) under ``paths``.

    Raises RuleError for a path that does not exist: a mistyped ``--rules`` must not silently
    mean "no extra rules".
    """
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file()
            )
        elif path.is_file():
            yield path
        else:
            raise RuleError("no such rule file or folder", file=str(path))


def _rule_id(data: Any) -> str | None:
    if isinstance(data, dict) and data.get("id") is not None:
        return str(data["id"])
    return None


def _title(data: Any) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("title"), str):
        return str(data["title"])
    return None


def load_rule_file(
    path: Path, *, collect_errors: bool
) -> tuple[list[LoadedRule], list[RuleProblem], bytes]:
    """Parse one file (which may hold several YAML documents). Returns rules, problems, bytes."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        error = RuleError(f"cannot read: {exc.strerror or exc}", file=str(path))
        if collect_errors:
            return [], [RuleProblem(str(path), None, None, "error", error.reason)], b""
        raise error from exc

    def fail(reason: str, data: Any = None) -> tuple[list[LoadedRule], list[RuleProblem], bytes]:
        if not collect_errors:
            raise RuleError(reason, file=str(path), rule_id=_rule_id(data))
        return [], [RuleProblem(str(path), _rule_id(data), _title(data), "error", reason)], content

    try:
        docs = [d for d in yaml.safe_load_all(content) if d is not None]
    except yaml.YAMLError as exc:
        return fail(f"not valid YAML: {exc}")
    if not docs:
        return fail("no rule in file")

    rules: list[LoadedRule] = []
    problems: list[RuleProblem] = []
    location = SigmaRuleLocation(path)
    for doc in docs:
        if not isinstance(doc, dict):
            reason = "a rule must be a YAML mapping"
            if not collect_errors:
                raise RuleError(reason, file=str(path))
            problems.append(RuleProblem(str(path), None, None, "error", reason))
            continue
        try:
            # References (correlation rules) are resolved once every file is loaded.
            collection = SigmaCollection.from_dicts(
                [doc], source=location, resolve_references=False
            )
        except SigmaError as exc:
            if not collect_errors:
                raise RuleError(
                    f"invalid Sigma: {exc.args[0] if exc.args else exc}",
                    file=str(path),
                    rule_id=_rule_id(doc),
                ) from exc
            problems.append(
                RuleProblem(
                    str(path),
                    _rule_id(doc),
                    _title(doc),
                    "error",
                    f"invalid Sigma: {exc.args[0] if exc.args else exc}",
                )
            )
            continue
        for item in collection.rules:
            if isinstance(item, SigmaCorrelationRule):
                # Its rule references are resolved over every file loaded (see ruleset).
                rules.append(LoadedRule(item, path))
            elif isinstance(item, SigmaFilter):
                problems.append(
                    RuleProblem(
                        str(path),
                        _rule_id(doc),
                        _title(doc),
                        "unsupported",
                        "Sigma filters are not supported",
                    )
                )
            elif isinstance(item, SigmaRule):
                rules.append(LoadedRule(item, path))
    return rules, problems, content


def load_rule_files(
    paths: Sequence[Path], *, collect_errors: bool = False
) -> tuple[list[LoadedRule], list[RuleProblem], str]:
    """Load every rule under ``paths``. Returns rules, problems and a content hash of the files."""
    hashes: list[bytes] = []
    rules: list[LoadedRule] = []
    problems: list[RuleProblem] = []
    try:
        files = list(iter_rule_files(paths))
    except RuleError as exc:
        if not collect_errors:
            raise
        problems.append(RuleProblem(exc.file, None, None, "error", exc.reason))
        files = []
    for path in files:
        loaded, found, content = load_rule_file(path, collect_errors=collect_errors)
        rules += loaded
        problems += found
        hashes.append(hashlib.sha256(content).digest())
    # The hash covers content only, sorted: moving or renaming a folder, or listing the folders
    # in another order, is not a rule change.
    return rules, problems, hashlib.sha256(b"".join(sorted(hashes))).hexdigest()
