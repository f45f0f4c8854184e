"""Where things are on an Exchange server, derived from its install root and inetpub."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.config import AgentConfig
from agent.errors import ConfigError


@dataclass(frozen=True, slots=True)
class WatchedRoot:
    path: Path
    kind: str  # "webroot" (pages are served from here) | "staging" | "config"
    configured: bool  # named in the config (must exist) rather than derived (may be absent)


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
    for path in config.webroots.paths:
        if not path.is_dir():
            raise ConfigError(
                f"web root {path} does not exist or is not a folder", key="webroots.paths"
            )
        roots.append(WatchedRoot(path, "webroot", True))
    # A root inside another root would report every change twice.
    unique: list[WatchedRoot] = []
    for root in sorted(roots, key=lambda r: len(r.path.parts)):
        if not any(root.path.is_relative_to(u.path) for u in unique):
            unique.append(root)
    return unique
