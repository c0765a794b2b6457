"""Settings: defaults, validation with one line per bad variable, masking, documentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import ConfigError
from worker.settings import VARIABLES, Settings, mask_url

OK = {"WEBHOOK_SECRET": "a-long-enough-secret-123"}


def test_defaults() -> None:
    s = Settings.from_env(OK)
    assert s.amqp_url is None
    assert s.embedded
    assert (s.http_host, s.http_port) == ("0.0.0.0", 8080)
    assert s.webhook_max_bytes == 1_048_576
    assert s.rules_file == Path("rules.yaml")
    assert (s.texter_rate_limit, s.texter_rate_burst) == (10.0, 10)
    assert s.texter_base_url is None


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        (
            {"TEXTER_PROJECT": "acme"},
            "texter_base_url",
            "https://acme.texterchat.com/server/api/v2",
        ),
        (
            {"TEXTER_BASE_URL": "http://127.0.0.1:8081/api/v2/"},
            "texter_base_url",
            "http://127.0.0.1:8081/api/v2",
        ),
        ({"PUBLISH_TIMEOUT": "250ms"}, "publish_timeout", 0.25),
        ({"SHUTDOWN_TIMEOUT": "2m"}, "shutdown_timeout", 120.0),
        ({"SHUTDOWN_DELAY": "0"}, "shutdown_delay", 0.0),
        ({"TEXTER_RATE_LIMIT": "2.5"}, "texter_rate_burst", 3),
        (
            {"WEBHOOK_ALLOW_UNAUTHENTICATED": "yes", "WEBHOOK_SECRET": ""},
            "webhook_allow_unauthenticated",
            True,
        ),
        ({"LOG_LEVEL": "DEBUG"}, "log_level", "debug"),
        ({"HTTP_PORT": " 9000 "}, "http_port", 9000),
    ],
)
def test_values_are_parsed(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(Settings.from_env({**OK, **env}), field) == value


@pytest.mark.parametrize(
    ("env", "starts"),
    [
        ({"HTTP_PORT": "abc"}, "HTTP_PORT: expected a whole number"),
        ({"HTTP_PORT": "70000"}, "HTTP_PORT: must be between 0 and 65535"),
        ({"WEBHOOK_MAX_BYTES": "0"}, "WEBHOOK_MAX_BYTES: must be between"),
        ({"AMQP_URL": "http://x"}, "AMQP_URL: expected amqp://"),
        ({"PUBLISH_TIMEOUT": "soon"}, "PUBLISH_TIMEOUT: expected a duration"),
        ({"PUBLISH_TIMEOUT": "0s"}, "PUBLISH_TIMEOUT: must be greater than zero"),
        ({"WEBHOOK_SECRET": "short"}, "WEBHOOK_SECRET: too short"),
        ({"WEBHOOK_SECRET": ""}, "WEBHOOK_SECRET: not set"),
        ({"WEBHOOK_ALLOW_UNAUTHENTICATED": "maybe"}, "WEBHOOK_ALLOW_UNAUTHENTICATED: expected"),
        ({"TEXTER_PROJECT": "acme", "TEXTER_BASE_URL": "https://x"}, "TEXTER_BASE_URL: set"),
        ({"TEXTER_PROJECT": "Not A Project"}, "TEXTER_PROJECT: expected the sub-domain"),
        ({"TEXTER_BASE_URL": "ftp://x"}, "TEXTER_BASE_URL: expected an http(s) URL"),
        ({"TEXTER_RATE_LIMIT": "0"}, "TEXTER_RATE_LIMIT: must be greater than 0"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT: expected one of"),
        ({"BUS_NAMESPACE": "a b"}, "BUS_NAMESPACE: use 1-64"),
        ({"BUS_SHARDS": "0"}, "BUS_SHARDS: must be between 1 and 256"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], starts: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**OK, **env})
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith(starts)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"HTTP_PORT": "x", "LOG_LEVEL": "loud", "WEBHOOK_SECRET": "s"})
    assert [p.split(":")[0] for p in err.value.problems] == [
        "HTTP_PORT",
        "WEBHOOK_SECRET",
        "LOG_LEVEL",
    ]


def test_secrets_never_appear_in_repr() -> None:
    s = Settings.from_env(
        {
            "WEBHOOK_SECRET": "super-secret-webhook-value",
            "TEXTER_API_TOKEN": "tok-12345-secret",
            "AMQP_URL": "amqp://user:amqp-password@broker:5672/prod",
        }
    )
    text = repr(s)
    for secret in ("super-secret-webhook-value", "tok-12345-secret", "amqp-password"):
        assert secret not in text
    assert "amqp://user:***@broker:5672/prod" in text
    assert mask_url("amqp://broker/") == "amqp://broker/"


def test_every_variable_is_documented() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    missing = [v.name for v in VARIABLES if f"`{v.name}`" not in doc]
    assert missing == []
