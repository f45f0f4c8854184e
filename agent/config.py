"""Agent configuration: a TOML file checked key by key, so an error names the key.

Relative paths in the file are taken relative to the file's own folder.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from agent.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CollectorSection:
    # The collector's mutual-TLS address; empty: the one enrollment stored.
    address: str = ""
    # Plain gRPC without enrollment, allowed only to a loopback collector (the local demo).
    insecure: bool = False

    @property
    def insecure_address(self) -> str:
        return self.address or "127.0.0.1:50051"


@dataclass(frozen=True, slots=True)
class HostSection:
    # The host's system drive; every default path is derived from it. On a test machine a
    # folder stands in for C:\ (``exwatch-agent run --root DIR``).
    system_root: Path = Path("C:/") if sys.platform == "win32" else Path("/")
    # Default: <system_root>/Program Files/Microsoft/Exchange Server/V15
    exchange_root: Path | None = None
    # Default: <system_root>/inetpub
    inetpub: Path | None = None
    hostname: str = ""
    # Exchange build to report, when it cannot be read from ExSetup.exe or the registry
    # (any host that is not Windows), e.g. "15.2.1118.7".
    exchange_build: str = ""


@dataclass(frozen=True, slots=True)
class WebRootsSection:
    # Watch the web roots derived from the Exchange install root and inetpub.
    defaults: bool = True
    # Also watch the staging folders (ProgramData, C:\root, Windows\Temp: archives and
    # dumps only), IIS's config folder and ASP.NET's Temporary ASP.NET Files.
    staging: bool = True
    paths: tuple[Path, ...] = ()
    # Files with these extensions are not reported (case-insensitive, with the dot).
    ignore_extensions: tuple[str, ...] = ()
    # A write is settled when size and mtime stay unchanged this long.
    settle_seconds: float = 0.25
    # Full snapshot diff of every root, for what the OS did not report.
    rescan_seconds: float = 300.0
    # Larger files are reported with size and mtime but not hashed.
    max_hash_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ContentSection:
    # Judge every new or changed file in a web root (YARA and hash lists).
    enabled: bool = True
    # Folders of extra YARA rules (signature-base style), added to the built-in ones.
    rules: tuple[Path, ...] = ()
    # YARA sees at most this many leading bytes of a file (the whole file is hashed).
    max_scan_bytes: int = 16 * 1024 * 1024
    timeout_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class LogsSection:
    # Tail the IIS and Exchange logs (paths derived from the install root and inetpub).
    enabled: bool = True
    poll_seconds: float = 1.0
    # On first start, and when the rules change, hunt logs written this many days back.
    lookback_days: float = 7.0
    # Ship every log record, not only those a rule matched (much more traffic).
    ship_all_records: bool = False
    # An IIS or HttpProxy log folder that was being written and then sees no new line for
    # this long, while IIS is evidently serving, is reported (logging switched off or the
    # folder redirected: what an intruder covering tracks does). IIS buffers up to a minute.
    quiet_seconds: float = 1800.0
    # IIS is serving when one of these processes holds an established TCP connection on one
    # of the site ports (or another watched log folder is still growing).
    iis_workers: tuple[str, ...] = ("w3wp.exe",)
    site_ports: tuple[int, ...] = (80, 443, 444)


@dataclass(frozen=True, slots=True)
class AccountsSection:
    # Report an account that normally logs on with modern authentication or protocols
    # (OAuth, MAPI over HTTP, REST) when it logs on with a legacy one (Basic auth, RPC over
    # HTTP): a guessed or stolen password. Live log lines only.
    enabled: bool = True
    # An account's baseline is established after this many modern log-ons...
    min_modern: int = 20
    # ...spanning at least this many days (record time).
    learn_days: float = 7.0
    # A legacy log-on is reported when the account had none for this many days; later ones
    # within that time are not reported again.
    quiet_days: float = 30.0
    # Accounts whose counts are kept; the least recently seen is forgotten first.
    max_accounts: int = 100_000
    # An offline MaxMind-format GeoIP database (GeoLite2-Country or -City); empty: none.
    # With one, an account logging on from two countries within the hour is reported.
    geoip_database: Path | None = None


@dataclass(frozen=True, slots=True)
class RulesSection:
    # Folders (or files) of extra Sigma rules, e.g. SigmaHQ's rules/web and
    # rules/windows/builtin/msexchange, evaluated with the built-in ones.
    sigma: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class ProcessesSection:
    enabled: bool = True
    # Processes whose children (and their children) are reported. Names are compared
    # without case and with or without ".exe".
    parents: tuple[str, ...] = (
        "w3wp.exe", "UMWorkerProcess.exe", "UMService.exe", "MSExchangeMailboxReplication.exe",
    )  # fmt: skip
    interval_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class EventLogSection:
    # Read the Windows event channels live (Application: UM errors; MSExchange Management:
    # cmdlets; Security 4688 and Sysmon 1: every process start). Windows only.
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class BudgetSection:
    # The agent's own CPU use, in percent of one core, averaged over ``sample_seconds``.
    cpu_percent: float = 10.0
    # The agent's resident memory.
    memory_mb: int = 256
    # Over either budget, the least valuable work is slowed first: retro-hunts and rescans,
    # then process polling, then log polling; web-root watching never.
    sample_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class RespondSection:
    # A file the collector asks for is sent only up to this size. Keep it below the
    # collector's max_message_bytes (16 MiB by default), less room for the message around it.
    collect_max_bytes: int = 15 * 1024 * 1024
    # Networks that stay reachable while the host is isolated, besides loopback and the
    # collector (the MSP's management hosts, a jump box): addresses or CIDR networks.
    management: tuple[str, ...] = ()
    # The widest network (prefix length) an isolate command may add to the allowed ones.
    widest_allow_v4: int = 24
    widest_allow_v6: int = 64
    # The longest isolation, address block or web-access cut a command may ask for.
    max_minutes: int = 24 * 60


@dataclass(frozen=True, slots=True)
class SpoolSection:
    max_bytes: int = 256 * 1024 * 1024
    batch_max_events: int = 500
    batch_max_bytes: int = 512 * 1024
    # Batches sent but not yet acknowledged.
    max_in_flight: int = 8


@dataclass(frozen=True, slots=True)
class AgentConfig:
    collector: CollectorSection = field(default_factory=CollectorSection)
    host: HostSection = field(default_factory=HostSection)
    webroots: WebRootsSection = field(default_factory=WebRootsSection)
    content: ContentSection = field(default_factory=ContentSection)
    rules: RulesSection = field(default_factory=RulesSection)
    logs: LogsSection = field(default_factory=LogsSection)
    accounts: AccountsSection = field(default_factory=AccountsSection)
    processes: ProcessesSection = field(default_factory=ProcessesSection)
    eventlog: EventLogSection = field(default_factory=EventLogSection)
    spool: SpoolSection = field(default_factory=SpoolSection)
    budget: BudgetSection = field(default_factory=BudgetSection)
    respond: RespondSection = field(default_factory=RespondSection)
    data_dir: Path = Path("var/agent")
    heartbeat_seconds: float = 30.0

    @property
    def exchange_root(self) -> Path:
        return self.host.exchange_root or (
            self.host.system_root / "Program Files" / "Microsoft" / "Exchange Server" / "V15"
        )

    @property
    def inetpub(self) -> Path:
        return self.host.inetpub or self.host.system_root / "inetpub"

    @property
    def hostname(self) -> str:
        return self.host.hostname or socket.gethostname()

    def with_root(self, root: Path) -> AgentConfig:
        """The same config with ``root`` as the system drive (``run --root``)."""
        return replace(self, host=replace(self.host, system_root=root))


# ---------------------------------------------------------------- loading

# Each kept account costs about 400 bytes of the agent's memory (budget.memory_mb).
MAX_ACCOUNTS = 500_000


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str, base: Path) -> Any:
    """Check ``value`` against annotation ``tp`` and convert paths; raise naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(value, options[0], key, base)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"expected a list, got {type(value).__name__}", key=key)
        item = typing.get_args(tp)[0]
        return tuple(_convert(v, item, f"{key}[{i}]", base) for i, v in enumerate(value))
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError("expected a path (a non-empty string)", key=key)
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {value!r}", key=key)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"expected a positive whole number, got {value!r}", key=key)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"expected a positive number, got {value!r}", key=key)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {value!r}", key=key)
        return value
    raise ConfigError(f"unsupported type {_type_name(tp)}", key=key)  # a bug in this module


def _build(cls: type[Any], raw: dict[str, Any], prefix: str, base: Path) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"unknown setting; expected one of: {', '.join(known)}", key=dotted)
        tp = hints[key]
        default = known[key].default_factory if known[key].default_factory is not MISSING else None
        if default is not None and hasattr(tp, "__dataclass_fields__"):
            if not isinstance(value, dict):
                raise ConfigError("expected a table", key=dotted)
            values[key] = _build(tp, value, f"{dotted}.", base)
        else:
            values[key] = _convert(value, tp, dotted, base)
    return cls(**values)


def load_config(path: Path) -> AgentConfig:
    """Read and check an agent config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", file=str(path)) from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from exc
    try:
        config: AgentConfig = _build(AgentConfig, raw, "", path.resolve().parent)
        validate(config)
    except ConfigError as exc:
        raise ConfigError(exc.message, key=exc.key, file=str(path)) from None
    return config


def validate(config: AgentConfig) -> None:
    """Checks across keys."""
    from agent.transport import parse_address  # local: transport imports config types

    if config.collector.address:
        parse_address(config.collector.address)
    for port in config.logs.site_ports:
        if port > 65535:
            raise ConfigError(f"{port} is not a TCP port", key="logs.site_ports")
    for network in config.respond.management:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(
                f"{network!r} is not an IP address or CIDR network", key="respond.management"
            ) from None
    if config.accounts.max_accounts > MAX_ACCOUNTS:
        raise ConfigError(
            f"at most {MAX_ACCOUNTS} accounts can be kept", key="accounts.max_accounts"
        )
    for ext in config.webroots.ignore_extensions:
        if not ext.startswith("."):
            raise ConfigError(
                f"extension {ext!r} must start with a dot", key="webroots.ignore_extensions"
            )
