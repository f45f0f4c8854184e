"""Content verdicts for settled web-root files: SHA-256 lists plus YARA (yara-x).

``ContentScanner.scan_file`` never raises for bad input. What it does with awkward files:

* not a regular file (FIFO, device, socket, directory): not opened for reading (a FIFO would
  block, a device could be endless), result UNSCANNED with an error;
* symlinks are followed like IIS would follow them; a loop, a vanished file or a permission
  problem gives UNSCANNED with the OS error;
* larger than ``max_bytes``: the whole file is still hashed (streamed, constant memory) so hash
  lists and the inventory stay exact, but YARA sees only the first ``max_bytes`` (webshell
  markers sit at the start; PST export shells are found by their header);
* binary junk is scanned like anything else (it is usually CLEAN).
"""

from __future__ import annotations

import enum
import errno
import hashlib
import math
import os
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yara_x

from agent.content import decode
from agent.content.hashlists import HashListError, load_hash_lists, lookup
from agent.content.rules import (
    BUILTIN_HASH_DIR,
    RuleError,
    RuleProblem,
    compile_rules,
    content_version,
    detection_for,
)
from agent.detection import Detection, Severity

READ_CHUNK = 1024 * 1024
KNOWN_BAD_RULE = "exw.hash.known_bad"
KNOWN_GOOD_RULE = "exw.hash.known_good"
_WEBSHELL_TAGS = ("attack.persistence", "attack.t1505.003")


class Verdict(enum.StrEnum):
    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"
    UNSCANNED = "unscanned"


@dataclass(frozen=True)
class ScanResult:
    path: str
    sha256: str
    size: int
    verdict: Verdict
    detections: tuple[Detection, ...]
    error: str | None = None

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(d.rule_id for d in self.detections)


def verdict_for(detections: Sequence[Detection]) -> Verdict:
    """CRITICAL/HIGH (incl. a known-bad hash) -> MALICIOUS, MEDIUM -> SUSPICIOUS, else CLEAN."""
    worst = max((d.severity for d in detections), default=Severity.INFORMATIONAL)
    if worst >= Severity.HIGH:
        return Verdict.MALICIOUS
    if worst == Severity.MEDIUM:
        return Verdict.SUSPICIOUS
    return Verdict.CLEAN


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _os_error(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    name = errno.errorcode.get(exc.errno or 0, "OSError")
    return f"{name}: {exc.strerror or exc}"


class ContentScanner:
    """Thread-safe: each thread gets its own yara-x Scanner over the shared compiled rules."""

    def __init__(self, rules: yara_x.Rules, *, known_bad: dict[str, str],
                 known_good: dict[str, str], version: str, problems: tuple[RuleProblem, ...] = (),
                 user_rule_count: int = 0, max_bytes: int = 16 * 1024**2,
                 timeout_s: float = 5.0) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.rules = rules
        self.known_bad = known_bad
        self.known_good = known_good
        self.version = version
        self.problems = problems
        self.user_rule_count = user_rule_count
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._local = threading.local()

    @classmethod
    def load(cls, extra_rule_dirs: Sequence[Path] = (), *, max_bytes: int = 16 * 1024**2,
             timeout_s: float = 5.0) -> ContentScanner:
        """Built-in rules and hash lists plus user YARA folders.

        Raises RuleError only when a built-in rule or hash list is broken; user rules that do
        not compile are skipped and listed in ``problems``.
        """
        compiled = compile_rules([Path(d) for d in extra_rule_dirs])
        bad_files = sorted(BUILTIN_HASH_DIR.glob("known_bad*.txt"))
        good_files = sorted(BUILTIN_HASH_DIR.glob("known_good*.txt"))
        try:
            known_bad = load_hash_lists(bad_files)
            known_good = load_hash_lists(good_files)
        except HashListError as exc:
            raise RuleError(exc.reason if exc.line == 0 else f"line {exc.line}: {exc.reason}",
                            file=exc.file) from exc
        sources = list(compiled.sources)
        sources += [(f"hashes/{p.name}", p.read_bytes()) for p in bad_files + good_files]
        return cls(compiled.rules, known_bad=known_bad, known_good=known_good,
                   version=content_version(sources), problems=compiled.problems,
                   user_rule_count=compiled.user_rule_count, max_bytes=max_bytes,
                   timeout_s=timeout_s)

    # -- scanning ---------------------------------------------------------------------------

    def _scanner(self) -> Any:
        scanner = getattr(self._local, "scanner", None)
        if scanner is None:
            scanner = yara_x.Scanner(self.rules)
            scanner.set_timeout(max(1, math.ceil(self.timeout_s)))
            # A pattern matching thousands of times cannot change a verdict; cap the bookkeeping.
            scanner.max_matches_per_pattern(1000)
            self._local.scanner = scanner
        return scanner

    def scan_file(self, path: Path) -> ScanResult:
        """Hash and scan one file. Never raises for bad input (see module docstring)."""
        shown = os.fsdecode(path)
        try:
            st = os.stat(path)  # noqa: PTH116 - path may be str-like; follows symlinks
        except OSError as exc:
            return ScanResult(shown, "", 0, Verdict.UNSCANNED, (), _os_error(exc))
        if not stat.S_ISREG(st.st_mode):
            return ScanResult(shown, "", 0, Verdict.UNSCANNED, (), f"skipped: {_kind(st.st_mode)}")
        # O_NONBLOCK: if the path was swapped for a FIFO since stat(), open must not block.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        flags |= getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            return ScanResult(shown, "", st.st_size, Verdict.UNSCANNED, (), _os_error(exc))
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode):
                return ScanResult(shown, "", 0, Verdict.UNSCANNED, (),
                                  f"skipped: {_kind(fst.st_mode)}")
            digest, head, size = self._read(fd)
        except OSError as exc:
            return ScanResult(shown, "", st.st_size, Verdict.UNSCANNED, (), _os_error(exc))
        finally:
            os.close(fd)
        return self._judge(shown, digest, size, head)

    def scan_bytes(self, data: bytes, *, path: str = "") -> ScanResult:
        """Judge in-memory content; ``path`` only labels the result (and feeds rule externals)."""
        digest = hashlib.sha256(data).hexdigest()
        return self._judge(path, digest, len(data), data[: self.max_bytes])

    def _read(self, fd: int) -> tuple[str, bytes, int]:
        """Stream-hash the whole file, keeping only the first ``max_bytes`` in memory."""
        digest = hashlib.sha256()
        head = bytearray()
        buf = bytearray(READ_CHUNK)
        view = memoryview(buf)
        size = 0
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as fh:
            while True:
                n = fh.readinto(buf)
                if not n:  # 0 at EOF; None would mean "would block", impossible for regular files
                    break
                chunk = view[:n]
                digest.update(chunk)
                if len(head) < self.max_bytes:
                    head += chunk[: self.max_bytes - len(head)]
                size += n
        return digest.hexdigest(), bytes(head), size

    def _judge(self, path: str, sha256: str, size: int, head: bytes) -> ScanResult:
        good = lookup(self.known_good, sha256)
        if good is not None:
            # Allowlisted: CLEAN whatever the rules would say, so do not even run them.
            return ScanResult(path, sha256, size, Verdict.CLEAN, (Detection(
                KNOWN_GOOD_RULE, f"known-good hash: {good}", Severity.INFORMATIONAL, (), "hash"),))
        detections: dict[str, Detection] = {}
        bad = lookup(self.known_bad, sha256)
        if bad is not None:
            detections[KNOWN_BAD_RULE] = Detection(KNOWN_BAD_RULE, f"known-bad hash: {bad}",
                                                   Severity.CRITICAL, _WEBSHELL_TAGS, "hash")
        error: str | None = None
        try:
            for det in self._yara(head, path):
                detections.setdefault(det.rule_id, det)
        except yara_x.TimeoutError:
            error = f"YARA scan timed out after {self.timeout_s:g} s"
        except yara_x.ScanError as exc:
            error = f"YARA scan failed: {exc}"
        # Most severe first, then by id: stable output for events, JSON lines and tests.
        found = tuple(sorted(detections.values(), key=lambda d: (-d.severity, d.rule_id)))
        verdict = verdict_for(found)
        if error is not None and verdict is Verdict.CLEAN:
            # Not seen in full: "clean" would be a claim we cannot make.
            verdict = Verdict.UNSCANNED
        return ScanResult(path, sha256, size, verdict, found, error)

    def _yara(self, data: bytes, path: str) -> list[Detection]:
        scanner = self._scanner()
        # Undecodable file-name bytes (surrogate escapes) cannot cross into yara-x as str.
        path = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        scanner.set_global("filename", name)
        scanner.set_global("filepath", path)
        scanner.set_global("extension", "." + ext if ext else "")
        found: list[Detection] = []
        for view in decode.views(data):
            for rule in scanner.scan(view).matching_rules:
                found.append(detection_for(rule))
        return found
