"""The agent's one exception tree. Every error carries the context a user needs to act."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigError(AgentError):
    """A configuration file or option is wrong. ``key`` names the offending setting."""

    def __init__(self, message: str, *, key: str | None = None, file: str | None = None) -> None:
        self.message = message
        self.key = key
        self.file = file
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class MalformedLine(AgentError):
    """A log line that cannot be parsed. The tailer counts it and moves on."""

    def __init__(self, reason: str, *, file: str, line: int) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        super().__init__(f"{file}:{line}: {reason}")
