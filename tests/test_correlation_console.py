"""An agent's password-spray count on the console: the alert page lists the affected
accounts, escaped, for the tenant's analyst."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from test_console_support import A1, Console, build_template, login, open_console

from protos import exwatch_pb2 as pb


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    c = open_console(build_template(tmp_path / "template"), tmp_path)
    yield c
    c.store.close()


def test_alert_page_lists_the_accounts_whose_passwords_to_change(console: Console) -> None:
    now = time.time_ns()
    for sequence, accounts in ((50, ["j.doe@contoso.com", "<b>x</b>"]), (51, ["a.li@contoso.com"])):
        event = pb.Event(
            id=f"spray{sequence}",
            host_time_ns=now,
            correlation=pb.CorrelationEvent(
                source="httpproxy", group={"ClientIpAddress": "203.0.113.5"}, values=accounts
            ),
        )
        event.matches.add(
            rule_id="exwatch.logon.password_spray",
            title="Password spray against OWA",
            severity=pb.SEVERITY_HIGH,
        )
        console.store.commit_batch(A1, sequence, [event], now_ns=now)
    alert = console.alert_id("acme", "exwatch.logon.password_spray")
    with TestClient(console.app) as client:
        login(client, "ana")
        page = client.get(f"/alerts/{alert}").text
    assert 'id="affected-accounts"' in page
    assert "have these users change their passwords" in page
    for account in ("j.doe@contoso.com", "a.li@contoso.com", "&lt;b&gt;x&lt;/b&gt;"):
        assert f"<li>{account}</li>" in page
    assert "<b>x</b>" not in page
