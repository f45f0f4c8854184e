"""[notify] config: channels of every type, routes by tenant and severity, clear errors
naming the key, secrets from the environment and never in a repr."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from collector.errors import ConfigError
from collector.notify.channels.email import EmailChannel
from collector.notify.channels.pagerduty import EVENTS_URL, PagerDutyChannel
from collector.notify.channels.syslog import SyslogChannel
from collector.notify.routes import Routes

SAMPLE = """
console_url = "https://exwatch.example.net/"
max_attempts = 5

[[routes]]
tenant = "*"
min_severity = "critical"
channel = ["pager", "siem"]

[[routes]]
tenant = ["acme", "globex"]
min_severity = "medium"
channel = "soc-slack"

[[routes]]
tenant = "acme"
channel = ["mail", "pager"]

[channels.pager]
type = "pagerduty"
routing_key = "R0UTINGKEY0123456789"

[channels.soc-slack]
type = "slack"
url = "https://hooks.slack.com/services/T000/B000/SLACKSECRET42"

[channels.teams]
type = "teams"
url = "https://prod-1.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=TEAMSSIG123456"

[channels.hook]
type = "webhook"
url = "https://soar.example.net/exwatch"
secret = "HMACSECRET99"
headers = { "X-Tenant-Token" = "HEADERSECRET77" }

[channels.mail]
type = "email"
host = "smtp.example.net"
username = "exwatch"
password = "SMTPPASSWORD55"
sender = "exwatch@example.net"
recipients = ["soc@example.net"]

[channels.siem]
type = "syslog"
host = "siem.example.net"
format = "cef"
"""

SECRETS = [
    "R0UTINGKEY0123456789",
    "SLACKSECRET42",
    "TEAMSSIG123456",
    "HMACSECRET99",
    "HEADERSECRET77",
    "SMTPPASSWORD55",
]


def sample() -> dict[str, Any]:
    return tomllib.loads(SAMPLE)


def test_a_full_config_parses() -> None:
    routes = Routes.from_config(sample())
    assert set(routes.channels) == {"pager", "soc-slack", "teams", "hook", "mail", "siem"}
    pager = routes.channels["pager"]
    assert isinstance(pager, PagerDutyChannel)
    assert pager.url == EVENTS_URL and pager.status_updates  # PagerDuty follows status
    mail = routes.channels["mail"]
    assert isinstance(mail, EmailChannel)
    assert (mail.port, mail.security, mail.status_updates) == (587, "starttls", False)
    siem = routes.channels["siem"]
    assert isinstance(siem, SyslogChannel)
    assert (siem.transport, siem.port, siem.format) == ("tls", 6514, "cef")
    assert routes.delivery.max_attempts == 5
    assert routes.delivery.console_url == "https://exwatch.example.net"


def test_routes_match_by_tenant_and_minimum_severity() -> None:
    routes = Routes.from_config(sample())

    def names(tenant: str, severity: int) -> list[str]:
        return [c.name for c in routes.match(tenant, severity)]

    assert names("acme", 5) == ["pager", "siem", "soc-slack", "mail"]  # each channel once
    assert names("acme", 4) == ["soc-slack", "mail", "pager"]  # default min_severity high
    assert names("acme", 3) == ["soc-slack"]
    assert names("globex", 3) == ["soc-slack"]
    assert names("initech", 4) == []
    assert names("*", 5) == ["pager", "siem"]  # fleet-wide campaign alerts: "*" routes only
    assert names("acme", 2) == []


def test_secrets_never_appear_in_reprs() -> None:
    routes = Routes.from_config(sample())
    text = repr(routes) + "".join(repr(c) + c.target() for c in routes.channels.values())
    for secret in SECRETS:
        assert secret not in text
    # ... and every one of them is known to the scrubber.
    for secret in SECRETS:
        assert any(secret in s for s in routes.secrets())


def test_secrets_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = {"channels": {"p": {"type": "pagerduty", "routing_key_env": "EXW_TEST_PD"}}}
    monkeypatch.setenv("EXW_TEST_PD", "fromenv123")
    channel = Routes.from_config(raw).channels["p"]
    assert isinstance(channel, PagerDutyChannel) and channel.routing_key == "fromenv123"
    monkeypatch.delenv("EXW_TEST_PD")
    with pytest.raises(ConfigError, match=r"notify\.channels\.p\.routing_key_env.*EXW_TEST_PD"):
        Routes.from_config(raw)


def test_empty_config_means_no_notifications() -> None:
    assert Routes.from_config(None).match("acme", 5) == []
    assert Routes.from_config({}).channels == {}


@pytest.mark.parametrize(
    ("raw", "key", "text"),
    [
        ({"bogus": 1}, "notify.bogus", "unknown setting"),
        ({"channels": {"x": {"type": "fax"}}}, "notify.channels.x.type", "unknown channel type"),
        ({"channels": {"x": {"type": "slack"}}}, "notify.channels.x.url", "required"),
        (
            {"channels": {"x": {"type": "slack", "url": "http://hooks.example.net/a"}}},
            "notify.channels.x.url",
            "https",
        ),
        (
            {"channels": {"x": {"type": "slack", "url": "https://h/a", "colour": "red"}}},
            "notify.channels.x.colour",
            "unknown setting",
        ),
        (
            {"channels": {"x": {"type": "webhook", "url": "https://h/a"}}},
            "notify.channels.x.secret",
            "required",
        ),
        (
            {
                "channels": {
                    "x": {
                        "type": "webhook",
                        "url": "https://h/a",
                        "secret": "s3cretvalue",
                        "headers": {"X-Exwatch-Signature": "forged"},
                    }
                }
            },
            "notify.channels.x.headers.X-Exwatch-Signature",
            "set by exwatch",
        ),
        ({"routes": [{"channel": "nope"}]}, "notify.routes[0].channel", "no channel"),
        (
            {
                "channels": {"p": {"type": "pagerduty", "routing_key": "k" * 32}},
                "routes": [{"channel": "p", "min_severity": "urgent"}],
            },
            "notify.routes[0].min_severity",
            "must be one of",
        ),
        ({"routes": {"channel": "x"}}, "notify.routes", "array of tables"),
        ({"max_attempts": 0}, "notify.max_attempts", "above 0"),
        ({"max_attempts": 2.5}, "notify.max_attempts", "integer"),
        (
            {"backoff_initial_seconds": 10, "backoff_max_seconds": 5},
            "notify.backoff_max_seconds",
            "backoff_initial",
        ),
        (
            {
                "lease_seconds": 10,
                "channels": {
                    "p": {"type": "pagerduty", "routing_key": "k" * 32, "timeout_seconds": 8}
                },
            },
            "notify.channels.p.timeout_seconds",
            "half",
        ),
        (
            {
                "channels": {
                    "m": {
                        "type": "email",
                        "host": "relay.example.net",
                        "security": "none",
                        "username": "u",
                        "password": "p4ssword",
                        "recipients": ["a@example.net"],
                    }
                }
            },
            "notify.channels.m.security",
            "without TLS",
        ),
        (
            {"channels": {"m": {"type": "email", "host": "h", "recipients": ["not-an-address"]}}},
            "notify.channels.m.recipients",
            "not an email address",
        ),
        (
            {"channels": {"s": {"type": "syslog", "host": "h", "transport": "sctp"}}},
            "notify.channels.s.transport",
            "udp, tcp, tls",
        ),
        (
            {"channels": {"s": {"type": "syslog", "host": "h", "sd_id": "exwatch"}}},
            "notify.channels.s.sd_id",
            "ENTERPRISE",
        ),
        ({"channels": {"bad name": {"type": "slack"}}}, "notify.channels.bad name", "name"),
    ],
)
def test_errors_name_the_key(raw: dict[str, Any], key: str, text: str) -> None:
    with pytest.raises(ConfigError, match=text) as info:
        Routes.from_config(raw)
    assert info.value.key == key


def test_config_errors_do_not_echo_secrets() -> None:
    raw = {"channels": {"x": {"type": "slack", "url": "http://hooks.example.net/SECRETPATH99"}}}
    with pytest.raises(ConfigError) as info:
        Routes.from_config(raw)
    assert "SECRETPATH99" not in str(info.value)


def test_plain_http_is_allowed_to_loopback_or_when_asked() -> None:
    loop = {"channels": {"x": {"type": "slack", "url": "http://127.0.0.1:9/a"}}}
    assert Routes.from_config(loop).channels["x"].name == "x"
    asked = {
        "channels": {
            "x": {"type": "teams", "url": "http://intranet/a", "allow_insecure_http": True}
        }
    }
    assert Routes.from_config(asked).channels["x"].name == "x"


def test_the_sample_config_and_its_examples_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/collector.sample.toml: [notify] loads as shipped, and with every commented
    example route and channel switched on."""
    from conftest import REPO

    text = (REPO / "deploy" / "collector.sample.toml").read_text()
    assert Routes.from_config(tomllib.loads(text)["notify"]).channels == {}
    notify = text.partition("\n[notify]\n")[2]
    lines = []
    for line in notify.splitlines():
        if re.match(r"^# (\[\[?notify|[\w-]+ = )", line):
            line = line[2:]
        lines.append(line)
    for var in ("WEBHOOK_SECRET", "SLACK_URL", "TEAMS_URL", "PAGERDUTY_KEY", "SMTP_PASSWORD"):
        value = "https://hooks.example.net/x" if var.endswith("URL") else "secret-value"
        monkeypatch.setenv(f"EXWATCH_{var}", value)
    routes = Routes.from_config(tomllib.loads("[notify]\n" + "\n".join(lines))["notify"])
    assert set(routes.channels) == {
        "soar",
        "soc-slack",
        "soc-teams",
        "pagerduty-oncall",
        "soc-mail",
        "siem",
    }
    assert [c.name for c in routes.match("contoso", 5)] == [
        "pagerduty-oncall",
        "siem",
        "soc-slack",
    ]
