"""Collect a file for responders: on a command from the collector, read it and hand back
its bytes and SHA-256, changing nothing on the host.

Only a regular file inside a collection root (the watched web roots, the staging, config
and compiled-page folders, and the Exchange and IIS log folders), reached without passing
through a link or junction, and no larger than the configured cap (which stays below the
collector's gRPC message limit). The file is read with the share-delete opener, so IIS and
Exchange can still rotate or delete it meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.errors import AgentError
from agent.layout import WatchedRoot
from agent.logs.formats import LogFormat
from agent.platform.shared_open import open_shared
from agent.respond.quarantine import Vault, VaultEntry

log = logging.getLogger("exwatch.agent.respond")
_MAGIC = frozenset("*?[")


class CollectError(AgentError):
    """The file cannot be collected; nothing was read or changed."""


@dataclass(frozen=True, slots=True)
class CollectRoot:
    path: Path
    recursive: bool = True  # False: only files directly inside (the staging folders)

    def holds(self, path: Path) -> bool:
        if self.recursive:
            return path != self.path and path.is_relative_to(self.path)
        return path.parent == self.path


@dataclass(frozen=True, slots=True)
class CollectedFile:
    path: str
    size: int
    sha256: str
    mtime_ns: int
    content: bytes

    def metadata(self) -> dict[str, str | int]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "mtime_ns": self.mtime_ns,
        }


def collect_roots(
    watched: list[WatchedRoot], log_globs: dict[LogFormat, list[str]]
) -> list[CollectRoot]:
    """The watched roots as they are watched, plus the fixed folder above every log glob
    (``...\\Logging\\HttpProxy\\Owa`` for ``...\\HttpProxy\\Owa\\HttpProxy_*.LOG``)."""
    roots = [CollectRoot(Path(os.path.normpath(r.path)), r.recursive) for r in watched]
    for patterns in log_globs.values():
        for pattern in patterns:
            parts = Path(pattern).parts
            magic = (i for i, part in enumerate(parts) if _MAGIC & set(part))
            fixed = next(magic, len(parts) - 1)  # a literal file name: its folder
            roots.append(CollectRoot(Path(os.path.normpath(Path(*parts[:fixed])))))
    return list(dict.fromkeys(roots))


def is_link(mode: int, attributes: int) -> bool:
    """A symbolic link, or on Windows any reparse point (junctions, mount points)."""
    return stat.S_ISLNK(mode) or bool(attributes & stat.FILE_ATTRIBUTE_REPARSE_POINT)


def _lstat(path: Path) -> os.stat_result:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        raise CollectError(f"{path} does not exist") from None
    except OSError as exc:
        raise CollectError(f"cannot read {path}: {exc.strerror or exc}") from exc


class FileCollector:
    def __init__(self, roots: list[CollectRoot], *, max_bytes: int) -> None:
        self.roots = roots
        self.max_bytes = max_bytes

    def _root_of(self, path_text: str) -> tuple[Path, CollectRoot]:
        if not path_text or "\x00" in path_text:
            raise CollectError("empty or malformed path")
        path = Path(os.path.normpath(path_text))  # collapses "..": then it must still be inside
        if path.is_absolute():
            for root in self.roots:
                if root.holds(path):
                    return path, root
        raise CollectError(f"{path_text} is not inside a collection root")

    def collect(self, path_text: str) -> CollectedFile:
        path, root = self._root_of(path_text)
        current = root.path
        for part in path.relative_to(root.path).parts:
            current = current / part
            st = _lstat(current)
            if is_link(st.st_mode, getattr(st, "st_file_attributes", 0)):
                raise CollectError(f"{current} is a link; refusing to follow it")
        if not stat.S_ISREG(st.st_mode):
            raise CollectError(f"{path} is not a regular file")
        self._check_size(path, st.st_size)
        try:
            with open_shared(path) as handle:
                opened = os.fstat(handle.fileno())
                # Swapped for something else between the check and the open (a link's target).
                if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
                    raise CollectError(f"{path} changed while being collected; try again")
                content = handle.read(self.max_bytes + 1)
        except OSError as exc:
            raise CollectError(f"cannot read {path}: {exc.strerror or exc}") from exc
        self._check_size(path, len(content))
        return CollectedFile(
            str(path), len(content), hashlib.sha256(content).hexdigest(), st.st_mtime_ns, content
        )

    def vault_copy(self, vault: Vault, entry: VaultEntry) -> bytes:
        """The quarantined content, for the collector to keep as evidence; empty when it
        is over the cap or unreadable (the quarantine itself stands: the vault holds it)."""
        if entry.size > self.max_bytes:
            return b""
        try:
            content = (vault.folder / entry.vault_id / "content.bin").read_bytes()
        except OSError as exc:
            log.warning("vault entry %s not sent as evidence: %s", entry.vault_id, exc)
            return b""
        if hashlib.sha256(content).hexdigest() != entry.sha256:
            log.warning("vault entry %s does not match its hash; not sent", entry.vault_id)
            return b""
        return content

    def _check_size(self, path: Path, size: int) -> None:
        if size > self.max_bytes:
            raise CollectError(
                f"{path} is {size} bytes, over the collection limit of {self.max_bytes} "
                "(respond.collect_max_bytes)"
            )
