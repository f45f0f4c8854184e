"""Benchmark ``exwatch-agent scan`` against the ``yara`` command line on the same tree and rules.

Method
------
1. Generate a reproducible (seeded) tree of ASP.NET web-root files: .aspx/.ascx/.master pages,
   .cs code-behind, .js (some large and minified-looking), .css, .config, .htm, with a size
   mix like a real application, and plant a few webshells from tests/data/webshells.
2. Read every file once so that both tools run with a warm page cache.
3. Time, ``--repeat`` times each, taking the median:
   a. ``exwatch-agent scan --format json TREE`` as a subprocess (start-up, rule compile,
      SHA-256 of every file, YARA over the raw bytes and the decoded views, JSON out);
   b. the same scan in-process through ``ContentScanner.scan_file`` (no start-up, no output);
   c. ``yara -r -w -p 1`` with the same built-in .yar files (single thread, like our scan);
   d. ``yara -r -w`` with yara's default thread count.
4. Check both found every planted shell, print files/s, MB/s and the ratios.

Usage: ``.venv/bin/python benchmarks/scan.py [--files 3000] [--repeat 3] [--keep DIR]``
Needs the Debian ``yara`` package for the comparison (skipped with a note when absent).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.content import ContentScanner  # noqa: E402
from agent.content.rules import BUILTIN_YARA_DIR  # noqa: E402

SHELLS = REPO / "tests" / "data" / "webshells"
PLANTED = [
    "chopper_jscript_item.aspx",
    "behinder_style_loader.aspx",
    "cmd_textbox_shell.aspx",
    "asp_wscript_exec.asp",
    "spy_style_manager.aspx",
    "tunnel_socket.aspx",
    "hafnium_style_uploader.aspx",
    "oab_config_export.aspx",
]

WORDS = [
    "customer",
    "order",
    "product",
    "invoice",
    "shipping",
    "account",
    "report",
    "settings",
    "profile",
    "search",
    "category",
    "inventory",
    "payment",
    "address",
    "contact",
    "support",
    "dashboard",
    "message",
    "calendar",
]


def _markup(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        w = rng.choice(WORDS)
        kind = rng.randrange(6)
        if kind == 0:
            parts.append(
                f'<asp:Label ID="{w}Label{rng.randrange(99)}" runat="server" '
                f'Text="<%$ Resources:Strings, {w.title()} %>" />\n'
            )
        elif kind == 1:
            parts.append(f'<td class="{w}"><%# Eval("{w.title()}") %></td>\n')
        elif kind == 2:
            parts.append(
                f'<div class="row {w}"><span>{w.title()} {rng.randrange(10**6)}</span></div>\n'
            )
        elif kind == 3:
            parts.append(f'<a href="{w}.aspx?id=<%# Eval("Id") %>">{w}</a>\n')
        elif kind == 4:
            parts.append(f"<% if ({w}Visible) {{ %><p><%: {w.title()}Text %></p><% }} %>\n")
        else:
            parts.append(f'<asp:TextBox ID="{w}Box" runat="server" CssClass="form-control" />\n')
    return "".join(parts)


def _page(rng: random.Random, size: int) -> str:
    w = rng.choice(WORDS)
    return (
        f'<%@ Page Title="{w.title()}" Language="C#" MasterPageFile="~/Site.Master" '
        f'AutoEventWireup="true" CodeBehind="{w}.aspx.cs" Inherits="App.{w.title()}" %>\n'
        f'<asp:Content ID="Main" ContentPlaceHolderID="MainContent" runat="server">\n'
        + _markup(rng, size)
        + "</asp:Content>\n"
    )


def _code(rng: random.Random, size: int) -> str:
    w = rng.choice(WORDS).title()
    body: list[str] = []
    while sum(map(len, body)) < size:
        m = rng.choice(WORDS).title()
        body.append(
            f"        protected void {m}_Click{rng.randrange(999)}(object sender, EventArgs e)\n"
            f"        {{\n"
            f'            string id = Request.QueryString["{m.lower()}"] ?? string.Empty;\n'
            f"            using (var conn = new SqlConnection(ConnectionString))\n"
            f"            using (var cmd = new SqlCommand("
            f'"SELECT * FROM {m} WHERE Id = @id", conn))\n'
            f"            {{\n"
            f'                cmd.Parameters.AddWithValue("@id", id);\n'
            f"                conn.Open();\n"
            f"                {m}Grid.DataSource = cmd.ExecuteReader();\n"
            f"                {m}Grid.DataBind();\n"
            f"            }}\n"
            f"        }}\n\n"
        )
    return (
        "using System;\nusing System.Data.SqlClient;\nusing System.Web.UI;\n\n"
        f"namespace App\n{{\n    public partial class {w} : Page\n    {{\n"
        + "".join(body)
        + "    }\n}\n"
    )


def _script(rng: random.Random, size: int) -> str:
    out: list[str] = ["(function(){"]
    while sum(map(len, out)) < size:
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        out.append(
            f"function {a}{rng.randrange(9999)}(n,t){{var r=n.{b}||[];"
            f'for(var i=0;i<r.length;i++){{t(r[i],"{a}")}}return r.length>0?r[0]:null}}'
        )
    return "".join(out) + "})();\n"


def _css(rng: random.Random, size: int) -> str:
    out: list[str] = []
    while sum(map(len, out)) < size:
        out.append(
            f".{rng.choice(WORDS)}-{rng.randrange(999)} {{ margin: {rng.randrange(20)}px; "
            f"color: #{rng.randrange(0xFFFFFF):06x}; }}\n"
        )
    return "".join(out)


def _config(rng: random.Random, size: int) -> str:
    keys = "".join(
        f'    <add key="{rng.choice(WORDS)}{i}" value="{rng.randrange(10**6)}" />\n'
        for i in range(max(1, size // 60))
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<configuration>\n  <appSettings>\n{keys}'
        '  </appSettings>\n  <system.web><compilation debug="false" /></system.web>\n'
        "</configuration>\n"
    )


# (extension, generator, typical size range in bytes, share of files)
KINDS = [
    (".aspx", _page, (2_000, 40_000), 0.25),
    (".ascx", _page, (1_000, 12_000), 0.10),
    (".cs", _code, (2_000, 60_000), 0.25),
    (".js", _script, (3_000, 300_000), 0.20),
    (".css", _css, (1_000, 80_000), 0.10),
    (".config", _config, (500, 8_000), 0.05),
    (".htm", lambda r, s: "<html><body>" + _markup(r, s) + "</body></html>", (500, 20_000), 0.05),
]


def generate(root: Path, count: int, seed: int = 20210302) -> list[Path]:
    """Write ``count`` benign files plus the planted shells; return the planted paths."""
    rng = random.Random(seed)
    folders = [
        root / "wwwroot" / name
        for name in (
            "",
            "App",
            "Admin",
            "Controls",
            "Scripts",
            "Content",
            "aspnet_client/system_web",
        )
    ]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    weights = [k[3] for k in KINDS]
    for i in range(count):
        ext, gen, (lo, hi), _ = rng.choices(KINDS, weights)[0]
        # Log-uniform sizes: many small files, a tail of big ones, like real applications.
        size = int(lo * (hi / lo) ** rng.random())
        folder = rng.choice(folders)
        (folder / f"{rng.choice(WORDS)}_{i}{ext}").write_text(gen(rng, size), encoding="utf-8")
    planted = []
    for j, name in enumerate(PLANTED):
        target = folders[j % len(folders)] / f"planted_{name}"
        shutil.copyfile(SHELLS / name, target)
        planted.append(target)
    return planted


def tree_stats(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    total = 0
    for p in files:
        total += len(p.read_bytes())  # also warms the page cache for both tools
    return len(files), total


def timed(fn: Callable[[], set[str]], repeat: int) -> tuple[float, set[str]]:
    times: list[float] = []
    out: set[str] = set()
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def run_exwatch(root: Path) -> set[str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from agent.scan import scan; scan()",
            "--format",
            "json",
            str(root),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"exwatch scan failed ({proc.returncode}): {proc.stderr[-500:]}")
    found: set[str] = set()
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        if rec["verdict"] in ("malicious", "suspicious"):
            found.add(rec["path"])
    return found


def run_inprocess(root: Path) -> set[str]:
    scanner = ContentScanner.load()
    found: set[str] = set()
    for p in sorted(root.rglob("*")):
        if p.is_file() and scanner.scan_file(p).verdict in ("malicious", "suspicious"):
            found.add(str(p))
    return found


def run_yara(root: Path, threads: int | None) -> set[str]:
    rules = [str(p) for p in sorted(BUILTIN_YARA_DIR.glob("*.yar"))]
    cmd = ["yara", "-r", "-w"] + (["-p", str(threads)] if threads else []) + rules + [str(root)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"yara failed: {proc.stderr[-500:]}")
    return {line.split(" ", 1)[1] for line in proc.stdout.splitlines() if " " in line}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="generate the tree here and keep it")
    args = ap.parse_args()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="exw-bench-scan-"))
    try:
        planted = generate(workdir, args.files)
        nfiles, nbytes = tree_stats(workdir)
        mb = nbytes / 1e6
        print(
            f"machine: {platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}, "
            f"Python {platform.python_version()}"
        )
        print(
            f"tree: {nfiles} files, {mb:.1f} MB, {len(planted)} planted shells; "
            f"median of {args.repeat} runs, warm cache"
        )

        rows: list[tuple[str, float, set[str]]] = []
        t, found = timed(lambda: run_exwatch(workdir), args.repeat)
        rows.append(("exwatch-agent scan (subprocess)", t, found))
        t, found = timed(lambda: run_inprocess(workdir), args.repeat)
        rows.append(("ContentScanner.scan_file (in-process)", t, found))
        if shutil.which("yara"):
            version = subprocess.run(
                ["yara", "--version"], capture_output=True, text=True, check=False
            ).stdout.strip()
            t, found = timed(lambda: run_yara(workdir, 1), args.repeat)
            rows.append((f"yara {version} -p 1", t, found))
            t, found = timed(lambda: run_yara(workdir, None), args.repeat)
            rows.append((f"yara {version} (default threads)", t, found))
        else:
            print("note: the yara command line is not installed; no comparison")

        want = {str(p) for p in planted}
        for name, secs, hits in rows:
            ok = want <= hits
            extra = len(hits) - len(want & hits)
            print(
                f"{name:42} {secs:7.2f} s  {nfiles / secs:8.0f} files/s  {mb / secs:7.1f} MB/s"
                f"  planted found: {'all' if ok else 'MISSING'}  other flagged: {extra}"
            )
        base = rows[0][1]
        for name, secs, _ in rows[1:]:
            print(f"ratio exwatch-agent scan / {name}: {base / secs:.2f}x the time")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
