"""ContentScanner behaviour: API, hash lists, user rule folders, and hostile inputs."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import tracemalloc
from pathlib import Path

import pytest
from test_content_samples import CHOPPER, WEBSHELLS

from agent.content import ContentScanner, RuleError, ScanResult, Verdict, verdict_for
from agent.content.hashlists import HashListError, parse_hash_list
from agent.content.rules import BUILTIN_YARA_DIR, compile_rules
from agent.detection import Detection, Severity

REPO = Path(__file__).resolve().parent.parent
ZEROS_1GIB_SHA256 = "49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14"


@pytest.fixture(scope="module")
def scanner() -> ContentScanner:
    return ContentScanner.load()


# -- API ------------------------------------------------------------------------------------

def test_scan_bytes_result_fields(scanner: ContentScanner) -> None:
    result = scanner.scan_bytes(CHOPPER, path="owa/auth/x.aspx")
    assert isinstance(result, ScanResult)
    assert result.path == "owa/auth/x.aspx"
    assert result.sha256 == hashlib.sha256(CHOPPER).hexdigest()
    assert result.size == len(CHOPPER)
    assert result.verdict is Verdict.MALICIOUS
    assert result.error is None
    first = result.detections[0]
    assert first.engine == "yara" and first.severity is Severity.CRITICAL
    assert "attack.t1505.003" in first.tags
    # Most severe first.
    assert [d.severity for d in result.detections] == sorted(
        (d.severity for d in result.detections), reverse=True)


def test_scan_file_matches_scan_bytes(scanner: ContentScanner, tmp_path: Path) -> None:
    path = tmp_path / "a.aspx"
    path.write_bytes(CHOPPER)
    a, b = scanner.scan_file(path), scanner.scan_bytes(CHOPPER, path=str(path))
    assert (a.sha256, a.size, a.verdict) == (b.sha256, b.size, b.verdict)
    assert a.detections == b.detections


def test_verdict_mapping() -> None:
    def det(sev: Severity) -> Detection:
        return Detection("r", "t", sev, (), "yara")
    assert verdict_for([]) is Verdict.CLEAN
    assert verdict_for([det(Severity.LOW)]) is Verdict.CLEAN
    assert verdict_for([det(Severity.MEDIUM)]) is Verdict.SUSPICIOUS
    assert verdict_for([det(Severity.MEDIUM), det(Severity.HIGH)]) is Verdict.MALICIOUS
    assert verdict_for([det(Severity.CRITICAL)]) is Verdict.MALICIOUS


def test_empty_and_binary_junk_are_clean(scanner: ContentScanner) -> None:
    assert scanner.scan_bytes(b"").verdict is Verdict.CLEAN
    junk = bytes((i * 7919 + 13) % 256 for i in range(200_000))
    assert scanner.scan_bytes(junk, path="x.aspx").verdict is Verdict.CLEAN


def test_version_is_stable_and_content_based(tmp_path: Path) -> None:
    a, b = ContentScanner.load(), ContentScanner.load()
    assert a.version == b.version and len(a.version) == 16
    (tmp_path / "u.yar").write_text('rule U { strings: $a = "zz-marker" condition: $a }')
    assert ContentScanner.load([tmp_path]).version != a.version


def test_scanner_is_thread_safe(scanner: ContentScanner) -> None:
    results: list[Verdict] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(20):
            v = scanner.scan_bytes(CHOPPER).verdict
            with lock:
                results.append(v)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [Verdict.MALICIOUS] * 80


# -- hash lists -----------------------------------------------------------------------------

def test_builtin_known_bad_list_loads(scanner: ContentScanner) -> None:
    assert "b75f163ca9b9240bf4b37ad92bc7556b40a17e27c2b8ed5c8991385fe07d17d0" in scanner.known_bad
    assert all(len(h) == 64 for h in scanner.known_bad)
    assert scanner.known_good == {}


def test_known_bad_hash_is_malicious(scanner: ContentScanner) -> None:
    data = b"<html>looks harmless</html>"
    bad = ContentScanner(scanner.rules, known_bad={hashlib.sha256(data).hexdigest(): "test IOC"},
                         known_good={}, version="t")
    result = bad.scan_bytes(data)
    assert result.verdict is Verdict.MALICIOUS
    assert result.detections[0].rule_id == "exw.hash.known_bad"
    assert result.detections[0].engine == "hash"


def test_known_good_hash_overrides_rules(scanner: ContentScanner) -> None:
    good = ContentScanner(scanner.rules, known_bad={},
                          known_good={hashlib.sha256(CHOPPER).hexdigest(): "vendor file"},
                          version="t")
    result = good.scan_bytes(CHOPPER)
    assert result.verdict is Verdict.CLEAN
    assert [d.rule_id for d in result.detections] == ["exw.hash.known_good"]
    assert result.detections[0].severity is Severity.INFORMATIONAL


def test_hash_list_parsing() -> None:
    text = "# c\n\n" + "AB" * 32 + "  Some label\n" + "cd" * 32 + "\n"
    table = parse_hash_list(text, source="x.txt")
    assert table == {"ab" * 32: "Some label", "cd" * 32: "listed hash"}
    with pytest.raises(HashListError) as err:
        parse_hash_list("abc  too short\n", source="bad.txt")
    assert err.value.file == "bad.txt" and err.value.line == 1


# -- rule folders ---------------------------------------------------------------------------

SB_STYLE = '''
rule WEBSHELL_Test_Marker : WEBSHELL FILE {
   meta:
      description = "Detects test marker"
      author = "someone"
      score = 65
      id = "00000000-0000-0000-0000-000000000000"
   strings:
      $a = "exwatch-test-marker"
   condition:
      filesize < 10KB and $a
}
rule Uses_Externals {
   strings: $a = "ext-marker"
   condition: $a and extension == ".aspx" and filename matches /\\.aspx$/
}
'''


def _user_rules(folder: Path) -> None:
    (folder / "sub").mkdir(parents=True)
    (folder / "good.yar").write_text(SB_STYLE)
    (folder / "syntax.yar").write_text("rule Broken { condition: ")
    (folder / "sub" / "mixed.yara").write_text(
        'import "magic"\nrule Needs_Magic { condition: magic.type() contains "PHP" }\n'
        "rule Unknown_Ident { condition: no_such_thing }\n"
        'rule Fine_One { strings: $a = "fine-one-marker" condition: $a }\n')
    (folder / "notes.txt").write_text("not a rule file")


def test_user_rule_folder_skips_broken_rules(tmp_path: Path) -> None:
    _user_rules(tmp_path)
    s = ContentScanner.load([tmp_path])
    problems = {(Path(p.file).name, p.rule) for p in s.problems}
    assert ("syntax.yar", None) in problems
    assert ("mixed.yara", "Needs_Magic") in problems
    assert ("mixed.yara", "Unknown_Ident") in problems
    assert all(p.reason for p in s.problems)
    assert s.user_rule_count == 3  # two in good.yar, Fine_One

    result = s.scan_bytes(b"xx exwatch-test-marker xx")
    det = next(d for d in result.detections if d.rule_id == "WEBSHELL_Test_Marker")
    assert det.title == "Detects test marker"
    assert det.severity is Severity.MEDIUM  # score 65
    assert "webshell" in det.tags
    assert result.verdict is Verdict.SUSPICIOUS
    assert "Fine_One" in s.scan_bytes(b"fine-one-marker").rule_ids


def test_user_rules_see_file_name_externals(tmp_path: Path) -> None:
    _user_rules(tmp_path)
    s = ContentScanner.load([tmp_path])
    assert "Uses_Externals" in s.scan_bytes(b"ext-marker", path="c:/x/y.aspx").rule_ids
    assert "Uses_Externals" not in s.scan_bytes(b"ext-marker", path="c:/x/y.txt").rule_ids
    target = tmp_path / "page.aspx"
    target.write_bytes(b"ext-marker")
    assert "Uses_Externals" in s.scan_file(target).rule_ids


def test_missing_user_folder_is_a_problem_not_a_failure(tmp_path: Path) -> None:
    s = ContentScanner.load([tmp_path / "nope"])
    assert any("not a readable folder" in p.reason for p in s.problems)
    assert s.scan_bytes(CHOPPER).verdict is Verdict.MALICIOUS


def test_broken_builtin_rule_raises(tmp_path: Path) -> None:
    for path in BUILTIN_YARA_DIR.glob("*.yar"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "zz_broken.yar").write_text("rule Broken { condition: nope }")
    with pytest.raises(RuleError) as err:
        compile_rules(builtin_dir=tmp_path)
    assert "zz_broken.yar" in err.value.file


def test_builtin_rule_without_meta_raises(tmp_path: Path) -> None:
    (tmp_path / "a.yar").write_text('rule NoMeta { strings: $a = "q" condition: $a }')
    with pytest.raises(RuleError, match="meta"):
        compile_rules(builtin_dir=tmp_path)


# -- hostile inputs -------------------------------------------------------------------------

def test_big_sparse_file_hashed_whole_but_scanned_head(tmp_path: Path) -> None:
    path = tmp_path / "big.aspx"
    with path.open("wb") as fh:
        fh.write(CHOPPER)
        fh.truncate(1024**3)  # 1 GiB, sparse: costs no disk
    small = ContentScanner.load(max_bytes=1024 * 1024)
    tracemalloc.start()
    try:
        result = small.scan_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size == 1024**3
    assert len(result.sha256) == 64 and result.sha256 != ZEROS_1GIB_SHA256
    assert result.verdict is Verdict.MALICIOUS  # the shell is in the scanned head
    assert peak < 64 * 1024 * 1024


def test_marker_beyond_max_bytes_is_not_seen(tmp_path: Path) -> None:
    path = tmp_path / "tail.aspx"
    path.write_bytes(b" " * 4096 + CHOPPER)
    small = ContentScanner.load(max_bytes=1024)
    result = small.scan_file(path)
    assert result.verdict is Verdict.CLEAN
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.timeout(30)
def test_fifo_is_not_opened(scanner: ContentScanner, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.aspx"
    os.mkfifo(fifo)
    result = scanner.scan_file(fifo)  # would block forever if it opened the FIFO for reading
    assert result.verdict is Verdict.UNSCANNED
    assert "FIFO" in (result.error or "")


def test_device_and_socket_and_directory(scanner: ContentScanner, tmp_path: Path) -> None:
    assert "device" in (scanner.scan_file(Path("/dev/zero")).error or "")
    assert "directory" in (scanner.scan_file(tmp_path).error or "")
    sock_path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        assert "socket" in (scanner.scan_file(sock_path).error or "")


def test_symlink_loop_vanished_and_dangling(scanner: ContentScanner, tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    loop = scanner.scan_file(tmp_path / "a")
    assert loop.verdict is Verdict.UNSCANNED and loop.error == "symlink loop"
    gone = scanner.scan_file(tmp_path / "never-existed.aspx")
    assert gone.verdict is Verdict.UNSCANNED and "ENOENT" in (gone.error or "")
    (tmp_path / "d").symlink_to(tmp_path / "missing")
    assert scanner.scan_file(tmp_path / "d").verdict is Verdict.UNSCANNED


def test_symlink_to_file_is_followed(scanner: ContentScanner, tmp_path: Path) -> None:
    (tmp_path / "real.aspx").write_bytes(CHOPPER)
    (tmp_path / "link.aspx").symlink_to(tmp_path / "real.aspx")
    assert scanner.scan_file(tmp_path / "link.aspx").verdict is Verdict.MALICIOUS


def test_hostile_file_names(scanner: ContentScanner, tmp_path: Path) -> None:
    names = ["-rf --help.aspx", "ünïcödé_шелл_外壳.aspx", "x" * 250 + ".aspx", "new\nline.aspx",
             " lead space.aspx"]
    for name in names:
        path = tmp_path / name
        path.write_bytes(CHOPPER)
        assert scanner.scan_file(path).verdict is Verdict.MALICIOUS, name
    raw = os.fsencode(tmp_path) + b"/bad-\xff\xfe.aspx"
    with open(raw, "wb") as fh:
        fh.write(CHOPPER)
    result = scanner.scan_file(Path(os.fsdecode(raw)))
    assert result.verdict is Verdict.MALICIOUS


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_permission_denied_as_unprivileged_user() -> None:
    # Root reads everything, so run the check as 'nobody' in a child process.
    folder = Path(tempfile.mkdtemp(prefix="exw-perm-"))
    try:
        folder.chmod(0o755)
        target = folder / "locked.aspx"
        target.write_bytes(CHOPPER)
        target.chmod(0o000)
        code = ("import sys; from pathlib import Path; from agent.content import ContentScanner;"
                "r = ContentScanner.load().scan_file(Path(sys.argv[1]));"
                "print(r.verdict.value, r.error)")
        # The venv's interpreter may live under /root; a system python with our paths will do.
        python = shutil.which("python3", path="/usr/bin:/usr/local/bin") or sys.executable
        site = [p for p in sys.path if p.endswith("site-packages")]
        env = {"PYTHONPATH": os.pathsep.join([str(REPO), *site]), "PATH": "/usr/bin:/bin"}
        try:
            out = subprocess.run([python, "-c", code, str(target)], cwd=REPO, user=65534, env=env,
                                 capture_output=True, text=True, check=False, timeout=60)
        except PermissionError:
            pytest.skip("cannot run an interpreter as 'nobody' here")
        if out.returncode != 0:
            pytest.skip(f"cannot import the agent as 'nobody' here: {out.stderr[-300:]}")
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("unscanned EACCES")
    finally:
        shutil.rmtree(folder)


def test_scan_of_every_sample_never_raises(scanner: ContentScanner) -> None:
    for path in sorted(WEBSHELLS.iterdir()):
        scanner.scan_file(path)
