"""Where things are on an Exchange server, derived from its install root and inetpub."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agent.config import AgentConfig
from agent.errors import ConfigError


@dataclass(frozen=True, slots=True)
class WatchedRoot:
    path: Path
    # "webroot" (pages are served from here), "staging" (where attackers pack dumps and
    # mail), "config" (IIS configuration), "compiled" (ASP.NET's compiled pages)
    kind: str
    configured: bool  # named in the config (must exist) rather than derived (may be absent)
    recursive: bool = True
    only: tuple[str, ...] = ()  # extensions to report (lower case, with the dot); () = all

    def covers(self, path: str) -> bool:
        """Is ``path`` one this root reports (inside it, at an allowed depth and type)?"""
        root = str(self.path)
        if not path.startswith(root.rstrip(os.sep) + os.sep):
            return False
        if not self.recursive and str(Path(path).parent) != root:
            return False
        return not self.only or path.lower().endswith(self.only)


STAGING_EXTENSIONS = (".7z", ".zip", ".rar", ".cab", ".dmp", ".pst")


def default_other_roots(system_root: Path) -> list[WatchedRoot]:
    """Beyond the web roots, the other places the exploit chains leave traces: archives
    and LSASS dumps in the staging folders, virtual directories in applicationHost.config,
    DLLs compiled from a newly requested page."""
    windows = system_root / "Windows"
    framework = windows / "Microsoft.NET"
    compiled = sorted(framework.glob("Framework*/*/Temporary ASP.NET Files"))
    return [
        *(
            WatchedRoot(
                system_root / name, "staging", False, recursive=False, only=STAGING_EXTENSIONS
            )
            for name in ("ProgramData", "root")
        ),
        WatchedRoot(windows / "Temp", "staging", False, recursive=False, only=STAGING_EXTENSIONS),
        WatchedRoot(
            windows / "System32" / "inetsrv" / "config",
            "config",
            False,
            recursive=False,
            only=(".config",),
        ),
        *(WatchedRoot(p, "compiled", False, only=(".dll",)) for p in compiled),
    ]


def default_web_roots(exchange_root: Path, inetpub: Path) -> list[Path]:
    """The folders every known Exchange exploit chain drops its webshells into.

    ``owa/auth`` is watched whole, so its ``Current`` and version folders are covered.
    """
    proxy = exchange_root / "FrontEnd" / "HttpProxy"
    client_access = exchange_root / "ClientAccess"
    return [
        inetpub / "wwwroot" / "aspnet_client",
        proxy / "owa" / "auth",
        proxy / "ecp" / "auth",
        proxy / "OAB",
        client_access / "Owa" / "auth",
        client_access / "ecp",
    ]


def watched_roots(config: AgentConfig) -> list[WatchedRoot]:
    """Every root to watch; configured roots must exist, derived ones are skipped when absent."""
    roots: list[WatchedRoot] = []
    if config.webroots.defaults:
        roots += [
            WatchedRoot(p, "webroot", False)
            for p in default_web_roots(config.exchange_root, config.inetpub)
        ]
    if config.webroots.staging:
        roots += default_other_roots(config.host.system_root)
    for path in config.webroots.paths:
        if not path.is_dir():
            raise ConfigError(
                f"web root {path} does not exist or is not a folder", key="webroots.paths"
            )
        roots.append(WatchedRoot(path, "webroot", True))
    # A root inside another root would report every change twice.
    unique: list[WatchedRoot] = []
    for root in sorted(roots, key=lambda r: len(r.path.parts)):
        if not any(u.recursive and root.path.is_relative_to(u.path) for u in unique):
            unique.append(root)
    return unique
