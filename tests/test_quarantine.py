from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from agent.respond.quarantine import QuarantineError, Vault


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Vault, Path]:
    root = tmp_path / "aspnet_client"
    root.mkdir()
    return Vault(tmp_path / "vault", [root]), root


def test_quarantine_and_restore_round_trip(setup: tuple[Vault, Path]) -> None:
    vault, root = setup
    shell = root / "s.aspx"
    shell.write_bytes(b"<%@ Page %>shell")
    os.utime(shell, ns=(10**18, 10**18))
    entry = vault.quarantine(str(shell))
    assert not shell.exists()
    assert entry.sha256 == hashlib.sha256(b"<%@ Page %>shell").hexdigest()
    stored = vault.folder / entry.vault_id / "content.bin"
    assert stored.read_bytes() == b"<%@ Page %>shell"
    assert not os.access(stored, os.X_OK)
    vault.restore(entry.vault_id)
    assert shell.read_bytes() == b"<%@ Page %>shell"
    assert shell.stat().st_mtime_ns == 10**18
    with pytest.raises(QuarantineError, match="no vault entry"):
        vault.restore(entry.vault_id)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda root, tmp: str(root / ".." / "outside.txt"), "not inside"),
        (lambda root, tmp: "relative/path.aspx", "not inside"),
        (lambda root, tmp: str(root / "missing.aspx"), "does not exist"),
        (lambda root, tmp: str(root), "not a regular file"),
        (lambda root, tmp: "", "empty"),
    ],
)
def test_refusals_change_nothing(
    setup: tuple[Vault, Path], tmp_path: Path, make, fragment: str
) -> None:
    vault, root = setup
    (tmp_path / "outside.txt").write_text("keep me")
    with pytest.raises(QuarantineError, match=fragment):
        vault.quarantine(make(root, tmp_path))
    assert (tmp_path / "outside.txt").read_text() == "keep me"


def test_links_are_never_followed(setup: tuple[Vault, Path], tmp_path: Path) -> None:
    vault, root = setup
    secret = tmp_path / "secret.txt"
    secret.write_text("system file")
    (root / "link.aspx").symlink_to(secret)
    (root / "dir").symlink_to(tmp_path, target_is_directory=True)
    for path in (root / "link.aspx", root / "dir" / "secret.txt"):
        with pytest.raises(QuarantineError, match="link"):
            vault.quarantine(str(path))
    assert secret.read_text() == "system file"


def test_restore_refuses_to_overwrite(setup: tuple[Vault, Path]) -> None:
    vault, root = setup
    (root / "s.aspx").write_text("one")
    entry = vault.quarantine(str(root / "s.aspx"))
    (root / "s.aspx").write_text("new content")
    with pytest.raises(QuarantineError, match="exists again"):
        vault.restore(entry.vault_id)
    assert (root / "s.aspx").read_text() == "new content"
