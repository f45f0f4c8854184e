"""Run exwatch on this machine as a demo: a collector and one agent watching a demo tree
laid out like an Exchange server's system drive (``./var/demo``).

``make run`` calls this. It runs in the foreground until Ctrl-C; with ``--exit-after N`` it
stops by itself after N seconds (CI uses that to check the quick start).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXCHANGE = Path("Program Files/Microsoft/Exchange Server/V15")

# Benign files of the kind a stock install has in its anonymously reachable folders.
DEMO_FILES = {
    "inetpub/wwwroot/iisstart.htm": "<!DOCTYPE html><html><body><h1>IIS</h1></body></html>\n",
    "inetpub/wwwroot/aspnet_client/system_web/4_0_30319/.keep": "",
    str(
        EXCHANGE / "FrontEnd/HttpProxy/owa/auth/logon.aspx"
    ): '<%@ Page Language="C#" AutoEventWireup="false" '
    'Inherits="Microsoft.Exchange.HttpProxy.Logon" %>\n<html><body><form method="post" '
    'action="/owa/auth.owa"><input name="username"/><input name="password" type="password"/>'
    "</form></body></html>\n",
    str(
        EXCHANGE / "FrontEnd/HttpProxy/owa/auth/errorFE.aspx"
    ): '<%@ Page Language="C#" Inherits="Microsoft.Exchange.HttpProxy.ErrorFE" %>\n'
    "<html><body>Something went wrong.</body></html>\n",
    str(
        EXCHANGE / "FrontEnd/HttpProxy/ecp/auth/TimeoutLogout.aspx"
    ): '<%@ Page Language="C#" Inherits="Microsoft.Exchange.HttpProxy.TimeoutLogout" %>\n'
    "<html><body>Your session has ended.</body></html>\n",
    str(
        EXCHANGE / "ClientAccess/Owa/auth/logon.aspx"
    ): '<%@ Page Language="C#" Inherits="Microsoft.Exchange.Clients.Owa.Core.Logon" %>\n'
    "<html><body>Outlook on the web</body></html>\n",
    str(
        EXCHANGE / "ClientAccess/ecp/default.aspx"
    ): '<%@ Page Language="C#" Inherits="Microsoft.Exchange.Management.ControlPanel.Default" %>\n'
    "<html><body>Exchange admin center</body></html>\n",
    str(
        EXCHANGE / "FrontEnd/HttpProxy/OAB/web.config"
    ): '<?xml version="1.0" encoding="utf-8"?>\n<configuration />\n',
}
SHELL_LINE = '<%@ Page Language="Jscript"%><%eval(Request.Item["demo"],"unsafe");%>'


def make_demo_tree(root: Path) -> None:
    for rel, text in DEMO_FILES.items():
        path = root / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--var", type=Path, default=Path("var"), help="data folder (default ./var)")
    parser.add_argument("--port", type=int, default=50051, help="collector gRPC port")
    parser.add_argument("--console-port", type=int, default=8080, help="web console port")
    parser.add_argument("--exit-after", type=float, default=0, help="stop after N seconds")
    args = parser.parse_args()

    var = args.var.resolve()
    demo = var / "demo"
    make_demo_tree(demo)
    agent_config = var / "demo-agent.toml"
    agent_config.write_text(
        "# Written by deploy/demo.py: an agent watching the demo tree.\n"
        f'data_dir = "{(var / "demo-agent").as_posix()}"\n'
        "heartbeat_seconds = 10\n\n"
        "[collector]\n"
        f'address = "127.0.0.1:{args.port}"\n'
        "insecure = true  # plain gRPC on loopback: the demo only\n\n"
        "[host]\n"
        f'system_root = "{demo.as_posix()}"\n'
        'hostname = "EXCH-DEMO01"\n',
        encoding="utf-8",
    )
    from collector.console.app import bootstrap_admin  # the demo sets up what a user would

    first = bootstrap_admin(var / "exwatch.db")
    if first:
        login = f"user {first[0]!r}, password {first[1]!r} (written to {var / 'demo-admin.txt'})"
        (var / "demo-admin.txt").write_text(f"{first[0]} {first[1]}\n", encoding="utf-8")
    else:
        saved = var / "demo-admin.txt"
        login = f"as in {saved}" if saved.exists() else "with the account made on the first run"
    py = sys.executable
    collector = subprocess.Popen(
        [
            py,
            "-m",
            "collector",
            "serve",
            "--insecure-loopback",
            "--console-listen",
            f"127.0.0.1:{args.console_port}",
            "--listen",
            f"127.0.0.1:{args.port}",
            "--data-dir",
            str(var),
        ],
        cwd=REPO,
    )
    time.sleep(1.0)
    if collector.poll() is not None:
        print(
            "exwatch demo: the collector did not start (is the port taken? try --port)",
            file=sys.stderr,
        )
        return 1
    agent = subprocess.Popen([py, "-m", "agent", "run", "--config", str(agent_config)], cwd=REPO)
    shell = demo / "inetpub/wwwroot/aspnet_client/shell.aspx"
    rel = os.path.relpath(shell, Path.cwd())
    demo_rel = os.path.relpath(demo, Path.cwd())
    print(
        "\n"
        "exwatch demo is running.\n"
        f"  collector   127.0.0.1:{args.port}, store {var / 'exwatch.db'}\n"
        f"  agent       watching {demo} (stands for an Exchange server's C:\\)\n"
        f"  console     http://127.0.0.1:{args.console_port}  - log in {login}\n\n"
        "See an alert: in another terminal, drop a (harmless) webshell marker, then list alerts:\n"
        f"  echo '{SHELL_LINE}' > '{rel}'\n"
        "  .venv/bin/exwatch-collector alerts\n"
        "Or replay a whole exploit chain (inert) into the demo server:\n"
        f"  .venv/bin/exwatch-agent simulate proxyshell --root '{demo_rel}'\n\n"
        "Ctrl-C stops the demo.\n",
        flush=True,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.monotonic() + args.exit_after if args.exit_after else None
    status = 0
    while not stopping:
        if deadline and time.monotonic() > deadline:
            break
        if collector.poll() is not None or agent.poll() is not None:
            print("exwatch demo: a process exited unexpectedly", file=sys.stderr)
            status = 1
            break
        time.sleep(0.2)
    for proc in (agent, collector):
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in (agent, collector):
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return status


if __name__ == "__main__":
    sys.exit(main())
