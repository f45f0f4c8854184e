"""Tail one log exactly: complete lines only, from a checkpoint, across truncation and
replacement. Pure logic: the caller commits the returned checkpoint in the same
transaction as the events it made from the records, so a restart neither loses nor
repeats a line. Nothing here persists anything.

- The file is opened per poll and closed again (share-delete on Windows), so IIS and
  Exchange can always rotate and delete it; no handle is held between polls. A quiet file
  is not even opened: when a poll read to the end, the next one first compares the
  file's ``stat`` (identity, size, modification time) with what that poll saw, and an
  unchanged file costs one ``stat`` instead of an open, a read and a hash (on Windows an
  open also passes every file-system filter, such as the antivirus).
- The offset only ever sits just after a newline *and* at a record boundary: a line
  written in two halves is read once it is complete, and a CSV record whose quoted value
  spans lines is re-read from its first line until its closing quote has been written.
- Identity: ``(st_dev, st_ino)`` (the NTFS file index on Windows) plus a sha256 of the
  first ``fingerprint_len`` bytes. Another identity under the same name = replaced
  (``rotated``), read from the start. Same identity but shorter than the offset, or other
  first bytes = ``truncated``, read from the start.
- Parser state after a restart: the checkpoint stores the ``#Fields:`` line in force at its
  offset (``header``), so the new parser maps columns exactly as before without re-reading
  the file. A checkpoint without one (written by something else) triggers a bounded
  backward search for the last ``#Fields:`` line before the offset.
- Junk never raises: a line over ``max_line_bytes``, a file without line breaks (a 2 GB
  sparse file is NULs), lines of NULs (what NTFS leaves after a crash) are counted in
  ``malformed`` and skipped; at most ``read_bytes`` are read per poll (``more`` says the
  caller should poll again at once). A line that is not valid UTF-8 is still parsed (the
  bad bytes as ``\\xNN``) and reported in ``errors``: skipping it would let an attacker
  hide a request by sending one invalid byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from agent.errors import MalformedLine
from agent.logrecord import LogRecord
from agent.logs.formats import BOM, LogFormat
from agent.logs.parse import LineParser
from agent.platform.shared_open import open_shared

__all__ = [
    "FINGERPRINT_BYTES",
    "MAX_LINE_BYTES",
    "READ_BYTES",
    "Checkpoint",
    "FileTailer",
    "TailResult",
]

FINGERPRINT_BYTES = 1024
MAX_LINE_BYTES = 1024 * 1024
READ_BYTES = 4 * 1024 * 1024
HEADER_SEARCH_BYTES = 64 * 1024 * 1024  # backward search for a lost #Fields line
MAX_ERRORS = 20  # per poll; the rest are only counted
_FIELDS = b"#Fields:"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where reading of one file stands. Plain values, so it can be stored as JSON."""

    path: str
    device: int
    inode: int
    offset: int  # bytes consumed: always just after a newline, at a record boundary
    fingerprint: str  # sha256 hex of the first ``fingerprint_len`` bytes
    line: int  # lines consumed
    fingerprint_len: int = 0
    header: str = ""  # the "#Fields:" line in force at ``offset`` ("" = none yet)
    skipping: bool = False  # inside an over-long line: drop bytes up to the next newline


@dataclass(slots=True)
class TailResult:
    records: list[LogRecord]
    checkpoint: Checkpoint
    malformed: int = 0
    rotated: bool = False
    truncated: bool = False
    errors: list[str] = field(default_factory=list)
    more: bool = False  # a full read_bytes was read: there may be more, poll again now
    missing: bool = False  # the file does not exist (deleted, or not created yet)

    def error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)
        elif len(self.errors) == MAX_ERRORS:
            self.errors.append("further errors in this poll not listed")


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _fingerprint(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


class FileTailer:
    """Reads one file's new complete lines per ``poll()``; see the module docstring."""

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
        self.max_line_bytes = max(max_line_bytes, 16)
        # One read must be able to hold a whole line of the maximum length plus its newline.
        self.read_bytes = max(read_bytes, self.max_line_bytes + 1, 1024)
        self._parser = self._new_parser(checkpoint.header if checkpoint else "")
        # A checkpoint from elsewhere without a header: look for it once, on the first poll.
        self._find_header = checkpoint is not None and not checkpoint.header
        # What the last poll that read to the end saw: (dev, inode, size, mtime), and the
        # checkpoint it left. Both unchanged: nothing to read.
        self._quiet: tuple[tuple[int, int, int, int], Checkpoint] | None = None

    # ------------------------------------------------------------------ setup

    def _new_parser(self, header: str) -> LineParser:
        parser = LineParser(self.fmt, str(self.path))
        if header:
            with contextlib.suppress(MalformedLine):  # a bad stored header: use the defaults
                parser.feed(header, 0)
        return parser

    def _fresh(self, st: os.stat_result, head: bytes) -> Checkpoint:
        return Checkpoint(str(self.path), st.st_dev, st.st_ino, 0, _fingerprint(head), 0, len(head))

    def _recover_header(self, fh: BinaryIO, offset: int) -> str:
        """The last ``#Fields:`` line before ``offset``, searching back at most
        ``HEADER_SEARCH_BYTES`` and then the file's first block; "" if there is none."""
        chunk_size = 1024 * 1024
        end = offset
        carry = b""
        while end > 0 and offset - end < HEADER_SEARCH_BYTES:
            start = max(0, end - chunk_size)
            fh.seek(start)
            data = fh.read(end - start) + carry
            at = data.rfind(b"\n" + _FIELDS)
            if at >= 0:
                return self._line_at(fh, start + at + 1)
            carry = data[: len(_FIELDS)]
            end = start
        fh.seek(0)
        first = fh.read(min(64 * 1024, offset))
        body = first.removeprefix(BOM)
        if body.startswith(_FIELDS):
            return self._line_at(fh, len(first) - len(body))
        at = first.find(b"\n" + _FIELDS)
        return "" if at < 0 else self._line_at(fh, at + 1)

    def _line_at(self, fh: BinaryIO, position: int) -> str:
        fh.seek(position)
        data = fh.read(self.max_line_bytes)
        cut = data.find(b"\n")
        text = (data if cut < 0 else data[:cut]).removeprefix(BOM)
        return text.decode("utf-8", "replace").rstrip("\r")

    # ------------------------------------------------------------------ public

    def end_checkpoint(self, limit: int | None = None) -> Checkpoint:
        """A checkpoint at the end of the file's last complete line (within its first
        ``limit`` bytes, when given), with the header in force there (after a start-up hunt:
        tail only what comes next). Reads the file once in ``read_bytes`` blocks; memory
        stays bounded.

        Known limit: a CSV record whose quoted value is still open at the end of the file
        at this moment is cut; its remaining lines will count as malformed."""
        with open_shared(self.path) as fh:
            st = os.fstat(fh.fileno())
            head = fh.read(FINGERPRINT_BYTES)
            fh.seek(0)
            pos = offset = lines = 0
            header_at = -1
            tail = b""  # the unfinished line carried into the next block
            at_line_start = True  # tail (or the next block) begins at a line start
            left = st.st_size if limit is None else limit
            while left > 0 and (chunk := fh.read(min(self.read_bytes, left))):
                left -= len(chunk)
                data = tail + chunk
                base = pos - len(tail)  # file position of data[0]
                pos += len(chunk)
                cut = data.rfind(b"\n") + 1
                if cut:
                    complete = data[:cut]
                    at = complete.rfind(b"\n" + _FIELDS)
                    if at >= 0:
                        header_at = base + at + 1
                    elif at_line_start and complete.removeprefix(BOM).startswith(_FIELDS):
                        header_at = base
                    lines += complete.count(b"\n")
                    offset = base + cut
                    tail, at_line_start = data[cut:], True
                else:
                    tail = data
                if len(tail) > self.max_line_bytes:
                    tail, at_line_start = b"", False  # over-long: poll() counts and skips it
            header = self._line_at(fh, header_at) if header_at >= 0 else ""
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
        """Read the complete lines appended since the checkpoint (at most ``read_bytes``).
        Never raises for a bad or vanished file: problems are reported in the result."""
        cp = self.checkpoint
        if self._quiet is not None and self._quiet[1] is cp and cp is not None:
            with contextlib.suppress(OSError):  # gone: the full path below reports it
                if _stat_key(self.path.stat()) == self._quiet[0]:
                    return TailResult([], cp)
        self._quiet = None
        try:
            fh = open_shared(self.path)
        except OSError as exc:
            # Gone (rotated away and deleted) or unreadable: keep the checkpoint as it is.
            if cp is None:
                cp = self.checkpoint = Checkpoint(str(self.path), 0, 0, 0, _fingerprint(b""), 0)
            result = TailResult([], cp, missing=isinstance(exc, FileNotFoundError))
            result.error(f"cannot open {self.path}: {exc}")
            return result
        with fh:
            st = os.fstat(fh.fileno())
            head = fh.read(FINGERPRINT_BYTES)
            result = TailResult([], cp or self._fresh(st, head))
            if cp is None or (cp.device, cp.inode, cp.offset) == (0, 0, 0):
                cp = self._fresh(st, head)  # first sight of this file
            elif (st.st_dev, st.st_ino) != (cp.device, cp.inode):
                result.rotated = True  # another file under the same name
            elif (
                st.st_size < cp.offset or _fingerprint(head[: cp.fingerprint_len]) != cp.fingerprint
            ):
                result.truncated = True  # same file, rewritten from the start
            elif len(head) > cp.fingerprint_len:
                # The file has grown past what the fingerprint covered: cover more of it.
                cp = replace(cp, fingerprint=_fingerprint(head), fingerprint_len=len(head))
            if result.rotated or result.truncated:
                cp = self._fresh(st, head)
                self._parser = self._new_parser("")
            elif self._find_header and cp.offset > 0 and self.fmt is not LogFormat.OAB:
                header = self._recover_header(fh, cp.offset)
                if header:
                    self._parser = self._new_parser(header)
                    cp = replace(cp, header=self._parser.header_line)
            self._find_header = False
            fh.seek(cp.offset)
            data = fh.read(self.read_bytes)
        result.more = len(data) == self.read_bytes
        cp = self._consume(cp, data, result)
        self.checkpoint = result.checkpoint = cp
        if not result.more:
            # st is from before the read: a file that grew meanwhile differs from it.
            self._quiet = (_stat_key(st), cp)
        return result

    # ------------------------------------------------------------------ reading

    def _consume(self, cp: Checkpoint, data: bytes, result: TailResult) -> Checkpoint:
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > self.max_line_bytes or (cp.skipping and data):
                # No line break in more than a line's worth: an over-long line, or junk
                # such as a NUL-filled (sparse) file. Drop it up to the next newline.
                if not cp.skipping:
                    result.malformed += 1
                    result.error(
                        f"{self.path}:{cp.line + 1}: no line break within "
                        f"{self.max_line_bytes} bytes (over-long line or binary junk); skipped"
                    )
                return replace(cp, offset=cp.offset + len(data), skipping=True)
            return cp  # a partial last line: wait for the rest
        parser = self._parser
        start_offset = offset = cp.offset
        line_no = cp.line
        skipping = cp.skipping
        # The last record boundary: where the checkpoint may go.
        safe_offset, safe_line = offset, line_no
        for raw in data[:cut].split(b"\n")[:-1]:
            line_no += 1
            offset += len(raw) + 1
            if skipping:  # the tail of an over-long line or of a NUL run
                skipping = False
                if raw[:1] == b"\x00" and raw.strip(b"\x00"):
                    self._feed(raw, line_no, result)  # a real line after a sparse hole
            elif len(raw) > self.max_line_bytes:
                result.malformed += 1
                result.error(f"{self.path}:{line_no}: longer than {self.max_line_bytes} bytes")
            else:
                self._feed(raw, line_no, result)
            if not parser.pending:
                safe_offset, safe_line = offset, line_no
        if parser.pending:
            # A quoted value is still open at the end of what we read. Forget it and read
            # it again from its first line next time, unless it can never fit in one read.
            parser.reset_pending()
            if safe_offset == start_offset and len(data) == self.read_bytes:
                result.malformed += 1
                result.error(f"{self.path}:{safe_line + 1}: quoted value longer than one read")
                first_break = data.find(b"\n") + 1
                safe_offset, safe_line = start_offset + first_break, safe_line + 1
        if len(data) - cut > self.max_line_bytes and safe_offset == offset:
            # The rest after the last newline is already longer than any line may be.
            result.malformed += 1
            result.error(f"{self.path}:{line_no + 1}: longer than {self.max_line_bytes} bytes")
            return replace(
                cp,
                offset=start_offset + len(data),
                line=line_no,
                skipping=True,
                header=parser.header_line,
            )
        return replace(
            cp, offset=safe_offset, line=safe_line, skipping=skipping, header=parser.header_line
        )

    def _feed(self, raw: bytes, line_no: int, result: TailResult) -> None:
        if b"\x00" in raw:
            raw = raw.strip(b"\x00")  # NTFS zero-fills what a crash left unwritten
            if not raw.strip(b"\r") or b"\x00" in raw:
                result.malformed += 1
                result.error(f"{self.path}:{line_no}: NUL bytes (binary junk); skipped")
                return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "backslashreplace")
            result.error(f"{self.path}:{line_no}: not UTF-8; parsed with \\xNN escapes")
        try:
            record = self._parser.feed(text, line_no)
        except MalformedLine as exc:
            result.malformed += 1
            result.error(str(exc))
            return
        if record is not None:
            result.records.append(record)
