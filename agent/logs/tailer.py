"""Tail one log exactly: complete lines only, from a checkpoint, across truncation and
replacement. Pure logic: the caller commits the returned checkpoint in the same
transaction as the events it made from the records (so nothing is lost or repeated).

The file is opened per poll and closed again (share-delete on Windows), so IIS and
Exchange can always rotate and delete it.

The checkpoint carries the active ``#Fields:`` header, so a parser rebuilt after a restart
maps columns exactly as before without re-reading the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from agent.errors import MalformedLine
from agent.logrecord import LogRecord
from agent.logs.formats import BOM, LogFormat
from agent.logs.parse import LineParser
from agent.platform.shared_open import open_shared

FINGERPRINT_BYTES = 1024
MAX_LINE_BYTES = 1024 * 1024
READ_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Checkpoint:
    path: str
    device: int
    inode: int
    offset: int  # bytes consumed: always just after a newline
    fingerprint: str  # sha256 of the first ``fingerprint_len`` bytes
    line: int  # lines consumed
    fingerprint_len: int = 0
    header: str = ""  # the last #Fields line before ``offset``
    skipping: bool = False  # inside an over-long line: drop bytes up to the next newline


@dataclass(slots=True)
class TailResult:
    records: list[LogRecord]
    checkpoint: Checkpoint
    malformed: int = 0
    rotated: bool = False
    truncated: bool = False
    errors: list[str] = field(default_factory=list)


def _fingerprint(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


class FileTailer:
    def __init__(
        self,
        path: Path,
        fmt: LogFormat,
        checkpoint: Checkpoint | None,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        read_bytes: int = READ_BYTES,
    ) -> None:
        self.path = path
        self.fmt = fmt
        self.checkpoint = checkpoint
        self.max_line_bytes = max_line_bytes
        self.read_bytes = max(read_bytes, 1024)
        self._parser = self._new_parser(checkpoint.header if checkpoint else "")

    def _new_parser(self, header: str) -> LineParser:
        parser = LineParser(self.fmt, str(self.path))
        if header:
            with contextlib.suppress(MalformedLine):  # a bad stored header: start without
                parser.feed(header, 0)
        return parser

    def end_checkpoint(self) -> Checkpoint:
        """A checkpoint at the end of the file's last complete line, with the header in
        force there (after a start-up hunt: tail only what comes next)."""
        with open_shared(self.path) as fh:
            st = os.fstat(fh.fileno())
            head = fh.read(FINGERPRINT_BYTES)
            offset, lines, header = 0, 0, ""
            fh.seek(0)
            tail = b""
            while chunk := fh.read(self.read_bytes):
                data = tail + chunk
                cut = data.rfind(b"\n") + 1
                for raw in data[:cut].split(b"\n")[:-1]:
                    if raw.startswith((b"#Fields:", BOM + b"#Fields:")):
                        header = raw.decode("utf-8", "replace").strip()
                lines += data[:cut].count(b"\n")
                offset += cut
                tail = data[cut:][-self.max_line_bytes :]
        return Checkpoint(
            str(self.path),
            st.st_dev,
            st.st_ino,
            offset,
            _fingerprint(head),
            lines,
            len(head),
            header,
        )

    def poll(self) -> TailResult:
        """Read the complete lines appended since the checkpoint. Never raises for a bad
        file: errors are reported in the result."""
        cp = self.checkpoint
        try:
            fh = open_shared(self.path)
        except OSError as exc:
            # Gone (rotated away and deleted) or unreadable: keep the checkpoint.
            result_cp = cp or Checkpoint(str(self.path), 0, 0, 0, "", 0)
            return TailResult([], result_cp, errors=[f"cannot open: {exc}"])
        with fh:
            st = os.fstat(fh.fileno())
            head = fh.read(FINGERPRINT_BYTES)
            result = TailResult([], cp or self._fresh(st, head))
            if cp is not None:
                same_file = (st.st_dev, st.st_ino) == (cp.device, cp.inode)
                same_start = _fingerprint(head[: cp.fingerprint_len]) == cp.fingerprint
                if not same_file or not same_start:
                    result.rotated = True  # replaced under the same name: a new file
                    cp = self._fresh(st, head)
                elif st.st_size < cp.offset:
                    result.truncated = True
                    cp = self._fresh(st, head)
                elif len(head) > cp.fingerprint_len:
                    # the file has grown past what the fingerprint covered: cover more
                    cp = replace(cp, fingerprint=_fingerprint(head), fingerprint_len=len(head))
            else:
                cp = result.checkpoint
            if result.rotated or result.truncated:
                self._parser = self._new_parser("")
            fh.seek(cp.offset)
            data = fh.read(self.read_bytes)
        cp = self._consume(cp, data, result)
        self.checkpoint = result.checkpoint = cp
        return result

    def _fresh(self, st: os.stat_result, head: bytes) -> Checkpoint:
        return Checkpoint(str(self.path), st.st_dev, st.st_ino, 0, _fingerprint(head), 0, len(head))

    def _consume(self, cp: Checkpoint, data: bytes, result: TailResult) -> Checkpoint:
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) >= self.max_line_bytes or (cp.skipping and data):
                # A line longer than any log line (or junk without newlines): drop it.
                if not cp.skipping:
                    result.malformed += 1
                    result.errors.append(
                        f"line {cp.line + 1}: longer than {self.max_line_bytes} bytes"
                    )
                return replace(cp, offset=cp.offset + len(data), skipping=True)
            return cp  # a partial last line: wait for the rest
        offset, line_no, header = cp.offset, cp.line, cp.header
        skipping = cp.skipping
        for raw in data[:cut].split(b"\n")[:-1]:
            line_no += 1
            offset += len(raw) + 1
            if skipping:  # the tail of an over-long line
                skipping = False
                continue
            if len(raw) > self.max_line_bytes:
                result.malformed += 1
                continue
            if b"\x00" in raw:
                result.malformed += 1
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                result.malformed += 1
                continue
            try:
                record = self._parser.feed(text, line_no)
            except MalformedLine as exc:
                result.malformed += 1
                if len(result.errors) < 10:
                    result.errors.append(str(exc))
                continue
            if record is not None:
                result.records.append(record)
            elif text.lstrip("\ufeff").startswith("#Fields:"):
                header = text.lstrip("\ufeff").strip()
        return replace(cp, offset=offset, line=line_no, header=header, skipping=skipping)
