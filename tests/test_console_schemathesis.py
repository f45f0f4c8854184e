"""Fuzz the console API from its own OpenAPI document (schemathesis): whatever the input,
no 500. Bounded to a few examples per operation so the whole run stays well under a
minute; authenticated as an admin (the widest reach) and as a tenant analyst."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient
from test_console_support import Console, build_template, open_console

from collector.console.app import create_app
from collector.console.settings import ConsoleSettings

# The schema is read at import (schemathesis parametrizes at collection); describing the
# API needs no database, so a placeholder store is enough here.
SPEC = create_app(ConsoleSettings(db_path=Path("unused.db")), cast(Any, None)).openapi()
schema = schemathesis.openapi.from_dict(SPEC)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("console-fuzz"))


@pytest.fixture
def fuzz(template: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    # One console per API operation (hypothesis runs all of an operation's examples in
    # one call of the test); tempfile, since tmp_path is function-scoped to pytest alone.
    with tempfile.TemporaryDirectory() as folder:
        console: Console = open_console(template, Path(folder))
        try:
            users = {
                name: {"Authorization": f"Bearer {console.api_token(name)}"}
                for name in ("admin", "ana")
            }
            with TestClient(console.app, raise_server_exceptions=False) as client:
                yield client, users
        finally:
            console.store.close()


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
def test_api_never_fails_with_a_server_error(
    case: schemathesis.Case[Any], fuzz: tuple[TestClient, dict[str, dict[str, str]]]
) -> None:
    client, users = fuzz
    for headers in users.values():
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        # requests-style keyword arguments: keep what httpx2 (TestClient) takes
        kwargs = {
            k: v
            for k, v in kwargs.items()
            if k in ("method", "url", "params", "headers", "json", "content", "data", "files")
        }
        if "data" in kwargs and isinstance(kwargs["data"], bytes | str):
            kwargs["content"] = kwargs.pop("data")
        response = client.request(**kwargs)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
        )
