"""The Windows service has no console: its log goes to a bounded file in the state folder."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.platform import windows_service


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_service_log_goes_to_a_rotating_file(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "state" / "agent.log"
    windows_service._log_to_file(log_file)
    logging.getLogger("exwatch.agent.test").warning("watch lost on %s", "aspnet_client")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    assert handler.maxBytes == windows_service.LOG_FILE_BYTES
    handler.flush()
    assert "WARNING exwatch.agent.test: watch lost on aspnet_client" in log_file.read_text()
