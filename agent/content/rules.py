"""Compile the built-in YARA rules plus users' rule folders into one yara-x rule set.

Built-in rules must compile and carry ``id``, ``title`` and ``severity`` meta, or loading fails
(a broken release must not start scanning with half its rules). User folders are taken as they
come (signature-base style: hundreds of files, some using modules or externals we lack): each
file is compiled on its own first, rules that fail are reported with file and reason and
dropped, and the rest are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yara_x

from agent.detection import Detection, Severity
from agent.errors import AgentError

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
BUILTIN_YARA_DIR = RULES_DIR / "yara"
BUILTIN_HASH_DIR = RULES_DIR / "hashes"
BUILTIN_NAMESPACE = "exwatch"
YARA_SUFFIXES = (".yar", ".yara")

# External variables that LOKI/THOR-style rule sets (signature-base) reference. Defining them
# lets those rules compile; the scanner sets them per file.
EXTERNALS: dict[str, str] = {"filename": "", "filepath": "", "extension": "", "filetype": "",
                             "owner": ""}


class RuleError(AgentError):
    """A built-in rule (or a hash list) is broken. ``file`` names it."""

    def __init__(self, message: str, *, file: str) -> None:
        self.message = message
        self.file = file
        super().__init__(f"{file}: {message}")


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """A user rule (or whole file) skipped at load, and why."""

    file: str
    rule: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: rule {self.rule}" if self.rule else self.file
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class CompiledRules:
    rules: yara_x.Rules
    problems: tuple[RuleProblem, ...]
    sources: tuple[tuple[str, bytes], ...]  # (label, content) of every file used, for versioning
    user_rule_count: int


def _new_compiler(*, relaxed: bool) -> yara_x.Compiler:
    compiler = yara_x.Compiler(relaxed_re_syntax=relaxed)
    for name, value in EXTERNALS.items():
        compiler.define_global(name, value)
    return compiler


def rule_files(folder: Path) -> list[Path]:
    """Every ``.yar``/``.yara`` file under ``folder``, recursively, in a stable order."""
    found = [p for p in folder.rglob("*") if p.suffix.lower() in YARA_SUFFIXES and p.is_file()]
    return sorted(found)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


def _namespace(index: int, path: Path) -> str:
    return f"user{index}_" + re.sub(r"\W", "_", path.stem)[:40]


def _check_user_file(path: Path, source: str) -> tuple[int, list[RuleProblem]]:
    """Compile one user file alone: how many rules survive, and what was dropped and why."""
    # Typed as Any: yara-x 1.23's stub declares ignored_rules() and IgnoredRule.name/message
    # as methods without self, while at run time they are a method and plain attributes.
    compiler: Any = _new_compiler(relaxed=True)
    compiler.ignore_invalid_rules(True)
    compiler.add_include_dir(str(path.parent))
    compiler.add_source(source, origin=str(path))
    problems = [RuleProblem(str(path), ign.name, _first_line(ign.message))
                for ign in compiler.ignored_rules()]
    named = {p.rule for p in problems}
    errors: list[dict[str, Any]] = compiler.errors()
    rules = compiler.build()
    count = sum(1 for _ in rules)
    if count == 0 and errors and not named:
        # A syntax error loses the whole file; say where.
        err = errors[0]
        problems.append(RuleProblem(str(path), None,
                                    f"{err.get('title', 'error')} (line {err.get('line', '?')})"))
    elif not problems and errors:
        for err in errors:
            if err.get("type") != "UnknownModule":
                problems.append(RuleProblem(str(path), None, f"{err.get('title', 'error')} "
                                                             f"(line {err.get('line', '?')})"))
    return count, problems


def compile_rules(extra_dirs: Sequence[Path] = (), *,
                  builtin_dir: Path = BUILTIN_YARA_DIR) -> CompiledRules:
    """Built-in rules (strict) plus every readable rule in ``extra_dirs`` (lenient)."""
    compiler = _new_compiler(relaxed=False)
    sources: list[tuple[str, bytes]] = []
    compiler.new_namespace(BUILTIN_NAMESPACE)
    builtin = rule_files(builtin_dir)
    if not builtin:
        raise RuleError("no built-in YARA rules found", file=str(builtin_dir))
    for path in builtin:
        try:
            raw = path.read_bytes()
            compiler.add_source(raw.decode("utf-8"), origin=str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(f"cannot read: {exc}", file=str(path)) from exc
        except yara_x.CompileError as exc:
            raise RuleError(_first_line(str(exc)), file=str(path)) from exc
        sources.append((f"builtin/{path.name}", raw))

    problems: list[RuleProblem] = []
    user_rules = 0
    compiler.ignore_invalid_rules(True)
    for folder in extra_dirs:
        if not folder.is_dir():
            problems.append(RuleProblem(str(folder), None, "not a readable folder"))
            continue
        files = rule_files(folder)
        if not files:
            problems.append(RuleProblem(str(folder), None, "no .yar/.yara files"))
        for path in files:
            try:
                raw = path.read_bytes()
                source = raw.decode("utf-8", errors="replace")
            except OSError as exc:
                problems.append(RuleProblem(str(path), None, f"cannot read: {exc}"))
                continue
            count, file_problems = _check_user_file(path, source)
            problems.extend(file_problems)
            if count == 0:
                continue
            compiler.new_namespace(_namespace(len(sources), path))
            compiler.add_include_dir(str(path.parent))
            compiler.add_source(source, origin=str(path))
            sources.append((str(path.resolve()), raw))
            user_rules += count
    rules = compiler.build()
    _validate_builtin_meta(rules)
    return CompiledRules(rules, tuple(problems), tuple(sources), user_rules)


def rule_meta(rule: Any) -> dict[str, Any]:
    """A rule's meta as a dict. yara-x returns strings holding escapes as bytes: decode them.
    The first value wins when a key repeats."""
    meta: dict[str, Any] = {}
    for key, value in rule.metadata:
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        meta.setdefault(key, value)
    return meta


def _validate_builtin_meta(rules: Iterable[Any]) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.namespace != BUILTIN_NAMESPACE:
            continue
        meta = rule_meta(rule)
        for key in ("id", "title", "severity"):
            if not isinstance(meta.get(key), str) or not meta[key]:
                raise RuleError(f"rule {rule.identifier} lacks string meta {key!r}",
                                file=str(BUILTIN_YARA_DIR))
        try:
            Severity.parse(meta["severity"])
        except ValueError as exc:
            raise RuleError(f"rule {rule.identifier}: {exc}", file=str(BUILTIN_YARA_DIR)) from exc
        if meta["id"] in seen:
            raise RuleError(f"duplicate rule id {meta['id']!r}", file=str(BUILTIN_YARA_DIR))
        seen.add(meta["id"])


def _score_severity(score: int) -> Severity:
    # signature-base / LOKI scores: 40 notable, 60 suspicious, 75 alert, 90+ near-certain.
    if score >= 90:
        return Severity.CRITICAL
    if score >= 75:
        return Severity.HIGH
    if score >= 60:
        return Severity.MEDIUM
    if score >= 40:
        return Severity.LOW
    return Severity.INFORMATIONAL


def _split_tags(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    return [t for t in re.split(r"[,\s]+", value) if t]


def detection_for(rule: Any) -> Detection:
    """A matched yara-x rule as a Detection; meta conventions documented in rules/yara/*.yar."""
    meta = rule_meta(rule)
    builtin = rule.namespace == BUILTIN_NAMESPACE
    # User rules are known by their rule name (that is how signature-base rules are cited);
    # built-in ones by their stable meta id.
    rule_id = str(meta["id"]) if builtin else rule.identifier
    title = str(meta.get("title") or meta.get("description") or rule.identifier)
    severity = Severity.HIGH  # a rule written to find webshells, matching in a web root
    if isinstance(meta.get("severity"), str):
        with contextlib.suppress(ValueError):  # unknown wording: keep the default
            severity = Severity.parse(meta["severity"])
    elif isinstance(meta.get("score"), int) and not isinstance(meta.get("score"), bool):
        severity = _score_severity(meta["score"])
    tags = _split_tags(meta.get("tags")) + [t.lower() for t in rule.tags]
    return Detection(rule_id=rule_id, title=title, severity=severity,
                     tags=tuple(dict.fromkeys(tags)), engine="yara")


def content_version(sources: Iterable[tuple[str, bytes]]) -> str:
    """Order-independent digest of rule and hash-list contents (16 hex digits)."""
    digest = hashlib.sha256()
    for label, raw in sorted(sources):
        digest.update(label.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(hashlib.sha256(raw).digest())
    return digest.hexdigest()[:16]
