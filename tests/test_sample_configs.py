"""The sample config loads, and documents exactly the keys the agent knows."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields, is_dataclass

from conftest import REPO

from agent.config import AgentConfig, load_config


def known_keys(cls: type, prefix: str = "") -> set[str]:
    out = set()
    for f in fields(cls):
        default = f.default_factory() if callable(f.default_factory) else None  # type: ignore[misc]
        if default is not None and is_dataclass(default):
            out |= known_keys(type(default), f"{prefix}{f.name}.")
        else:
            out.add(f"{prefix}{f.name}")
    return out


def documented_keys(text: str) -> set[str]:
    keys, section = set(), ""
    for line in text.splitlines():
        if m := re.match(r"^\[(\w+)\]", line):
            section = m.group(1) + "."
        elif m := re.match(r"^#?\s?(\w+) = ", line):
            keys.add(section + m.group(1))
    return keys


def test_agent_sample_loads_and_documents_every_key() -> None:
    sample = REPO / "deploy" / "agent.sample.toml"
    config = load_config(sample)
    assert config.collector.address == AgentConfig().collector.address
    tomllib.loads(sample.read_text())
    assert documented_keys(sample.read_text()) == known_keys(AgentConfig)
