"""Compile the YARA rules in a short-lived child process; the agent only loads the result.

yara-x's compiler (and the code generator behind it) leaves about 12 MB resident in the
process that ran it, for good. The agent runs for months and compiles only at start and on
a rule push, so a child compiles and hands back the serialized rules; the agent
deserializes them, which costs a fraction of that. The child also loads the hash lists, so
the result is exactly what :meth:`ContentScanner.load` builds in process.

The child runs :func:`main`: request on stdin, result on stdout, both pickled.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yara_x

from agent.content import ContentScanner
from agent.content.rules import RuleError, RuleProblem
from agent.errors import AgentError

# Compiling a large third-party folder (signature-base) takes seconds; this bounds a hang.
TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class _Request:
    rule_dirs: tuple[Path, ...]
    max_bytes: int
    timeout_s: float


@dataclass(frozen=True, slots=True)
class _Compiled:
    rules: bytes  # yara_x.Rules.serialize_into
    known_bad: dict[str, str]
    known_good: dict[str, str]
    version: str
    problems: tuple[RuleProblem, ...]
    user_rule_count: int


@dataclass(frozen=True, slots=True)
class _Refused:
    """A built-in rule or hash list is broken: content.RuleError's message and file."""

    message: str
    file: str


def load_scanner_apart(
    rule_dirs: Sequence[Path], *, max_bytes: int, timeout_s: float
) -> ContentScanner:
    """:meth:`ContentScanner.load`, compiled in a child process. Raises content.RuleError
    as that would, and AgentError when the child itself fails."""
    request = _Request(tuple(rule_dirs), max_bytes, timeout_s)
    try:
        done = subprocess.run(
            # Imported, not run as __main__, so the pickled classes are this module's.
            [sys.executable, "-c", "from agent.compile_apart import main; main()"],
            input=pickle.dumps(request),
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgentError(f"YARA rules: the compiling child process failed: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise AgentError(
            f"YARA rules: the compiling child process exited with {done.returncode}: "
            + " / ".join(tail)
        )
    result = pickle.loads(done.stdout)  # our own child's output
    if isinstance(result, _Refused):
        raise RuleError(result.message, file=result.file)
    assert isinstance(result, _Compiled)
    return ContentScanner(
        yara_x.Rules.deserialize_from(io.BytesIO(result.rules)),
        known_bad=result.known_bad,
        known_good=result.known_good,
        version=result.version,
        problems=result.problems,
        user_rule_count=result.user_rule_count,
        max_bytes=request.max_bytes,
        timeout_s=request.timeout_s,
    )


def _compile(request: _Request) -> _Compiled | _Refused:
    try:
        scanner = ContentScanner.load(
            request.rule_dirs, max_bytes=request.max_bytes, timeout_s=request.timeout_s
        )
    except RuleError as exc:
        return _Refused(exc.message, exc.file)
    rules = io.BytesIO()
    scanner.rules.serialize_into(rules)
    return _Compiled(
        rules.getvalue(),
        scanner.known_bad,
        scanner.known_good,
        scanner.version,
        scanner.problems,
        scanner.user_rule_count,
    )


def main() -> None:
    request = pickle.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(pickle.dumps(_compile(request)))
