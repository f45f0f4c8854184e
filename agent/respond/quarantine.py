"""Quarantine: move a file out of a web root into the agent's vault, reversibly.

Only on a command from the collector. The path must be a regular file inside a watched
root, reached without following links, so a command can never move something else (a
``..`` path, a symlink to a system file). The vault keeps the content under an inert name
with the original path, hash, size, times and mode, and the file can be put back.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.errors import AgentError


class QuarantineError(AgentError):
    """The file cannot be quarantined or restored; nothing was changed."""


@dataclass(frozen=True, slots=True)
class VaultEntry:
    vault_id: str
    original_path: str
    sha256: str
    size: int
    mtime_ns: int
    mode: int
    quarantined_ns: int


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _check_no_links(path: Path, roots: list[Path]) -> None:
    """Refuse a path that is, or passes through, a symbolic link (or junction)."""
    root = next(r for r in roots if path.is_relative_to(r))
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise QuarantineError(f"{current} is a link; refusing to follow it")


class Vault:
    def __init__(self, folder: Path, roots: list[Path]) -> None:
        self.folder = folder
        self.roots = [Path(os.path.normpath(r)) for r in roots]

    def quarantine(self, path_text: str) -> VaultEntry:
        if not path_text or "\x00" in path_text:
            raise QuarantineError("empty or malformed path")
        path = Path(os.path.normpath(path_text))  # collapses "..": then it must still be inside
        if not path.is_absolute() or not _inside(path, self.roots):
            raise QuarantineError(f"{path_text} is not inside a watched root")
        _check_no_links(path, self.roots)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise QuarantineError(f"{path} does not exist") from None
        if not stat.S_ISREG(st.st_mode):
            raise QuarantineError(f"{path} is not a regular file")
        entry_id = uuid.uuid4().hex
        target = self.folder / entry_id
        target.mkdir(parents=True, mode=0o700)
        content = target / "content.bin"  # inert name: nothing serves or runs it
        digest = hashlib.sha256()
        with path.open("rb") as src, content.open("wb") as dst:
            while chunk := src.read(1024 * 1024):
                digest.update(chunk)
                dst.write(chunk)
        content.chmod(0o400)
        entry = VaultEntry(
            entry_id,
            str(path),
            digest.hexdigest(),
            st.st_size,
            st.st_mtime_ns,
            stat.S_IMODE(st.st_mode),
            time.time_ns(),
        )
        (target / "entry.json").write_text(json.dumps(asdict(entry), indent=2))
        try:
            path.unlink()
        except OSError as exc:  # still in place: undo the copy, report
            _remove(target)
            raise QuarantineError(f"cannot remove {path}: {exc}") from exc
        return entry

    def restore(self, vault_id: str) -> VaultEntry:
        if not vault_id.isalnum():
            raise QuarantineError(f"no vault entry {vault_id!r}")
        target = self.folder / vault_id
        try:
            entry = VaultEntry(**json.loads((target / "entry.json").read_text()))
        except (OSError, ValueError, TypeError):
            raise QuarantineError(f"no vault entry {vault_id!r}") from None
        original = Path(entry.original_path)
        if original.exists() or original.is_symlink():
            raise QuarantineError(f"{original} exists again; not overwriting it")
        if not _inside(original, self.roots):
            raise QuarantineError(f"{original} is no longer inside a watched root")
        data = (target / "content.bin").read_bytes()
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise QuarantineError(f"vault entry {vault_id} does not match its hash")
        original.write_bytes(data)
        original.chmod(entry.mode)
        os.utime(original, ns=(entry.mtime_ns, entry.mtime_ns))
        _remove(target)
        return entry


def _remove(folder: Path) -> None:
    for child in folder.iterdir():
        child.chmod(0o600)
        child.unlink()
    folder.rmdir()
