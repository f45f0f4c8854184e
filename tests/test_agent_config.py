from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import AgentConfig, load_config
from agent.errors import ConfigError
from agent.layout import default_web_roots, watched_roots


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_defaults_derive_from_the_system_root(tmp_path: Path) -> None:
    config = AgentConfig().with_root(tmp_path)
    assert config.exchange_root == tmp_path / "Program Files/Microsoft/Exchange Server/V15"
    assert config.inetpub == tmp_path / "inetpub"
    roots = default_web_roots(config.exchange_root, config.inetpub)
    assert tmp_path / "inetpub/wwwroot/aspnet_client" in roots
    assert config.exchange_root / "FrontEnd/HttpProxy/owa/auth" in roots
    assert config.exchange_root / "FrontEnd/HttpProxy/ecp/auth" in roots


def test_full_config_loads_with_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    config = load_config(
        write(
            tmp_path,
            """
data_dir = "state"
heartbeat_seconds = 5
[collector]
address = "127.0.0.1:6000"
[host]
system_root = "drive"
exchange_root = "/opt/ex"
hostname = "EXCH01"
[webroots]
paths = ["site"]
ignore_extensions = [".log"]
settle_seconds = 0.5
[spool]
max_bytes = 1000000
""",
        )
    )
    assert config.data_dir == tmp_path / "state"
    assert config.host.system_root == tmp_path / "drive"
    assert config.exchange_root == Path("/opt/ex")
    assert config.webroots.paths == (tmp_path / "site",)
    assert config.webroots.settle_seconds == 0.5
    assert config.hostname == "EXCH01"
    assert config.spool.max_bytes == 1000000


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("colector = 1", "colector", "unknown setting"),
        ("[webroots]\nsettle_seconds = 'soon'", "webroots.settle_seconds", "positive number"),
        ("[webroots]\npaths = 'x'", "webroots.paths", "expected a list"),
        ("[webroots]\ndefaults = 1", "webroots.defaults", "true or false"),
        ("[spool]\nmax_bytes = -5", "spool.max_bytes", "positive whole number"),
        ("[collector]\naddress = 'nohost'", "collector.address", "HOST:PORT"),
        (
            "[webroots]\nignore_extensions = ['log']",
            "webroots.ignore_extensions",
            "start with a dot",
        ),
        ("collector = 3", "collector", "expected a table"),
        ("[accounts]\nmin_modern = 0", "accounts.min_modern", "positive whole number"),
        ("[accounts]\nquiet_days = -1", "accounts.quiet_days", "positive number"),
        ("[accounts]\nmax_accounts = 600000", "accounts.max_accounts", "at most 500000"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert key in message
    assert fragment in message
    assert str(path) in message


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[collector\naddress="))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_configured_web_root_must_exist(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[webroots]\npaths = ['missing']"))
    with pytest.raises(ConfigError, match="does not exist") as info:
        watched_roots(config)
    assert info.value.key == "webroots.paths"


def test_derived_roots_may_be_absent_and_nested_roots_collapse(tmp_path: Path) -> None:
    (tmp_path / "inetpub/wwwroot/aspnet_client/sub").mkdir(parents=True)
    config = load_config(
        write(
            tmp_path,
            f"""
[host]
system_root = "{tmp_path.as_posix()}"
[webroots]
paths = ["inetpub/wwwroot/aspnet_client/sub"]
""",
        )
    )
    roots = watched_roots(config)
    paths = [r.path for r in roots]
    assert tmp_path / "inetpub/wwwroot/aspnet_client" in paths
    assert tmp_path / "inetpub/wwwroot/aspnet_client/sub" not in paths  # inside another root
