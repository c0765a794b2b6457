"""Every TEXTER_* setting reaches the client: options, credentials, session timeouts, limiter."""

from __future__ import annotations

from worker.settings import VARIABLES, Settings
from worker.texter import (
    ClientOptions,
    RetryConfig,
    credentials,
    open_client_from_settings,
)

URL = "http://127.0.0.1:9/server/api/v2"
# A value for every TEXTER_* variable, none of them the default, so a setting that is not
# passed on shows up as a default in the options.
ENV = {
    "TEXTER_BASE_URL": URL,
    "TEXTER_API_TOKEN": "settings-token-0123456789",
    "TEXTER_RATE_LIMIT": "7",
    "TEXTER_RATE_BURST": "3",
    "TEXTER_CONNECT_TIMEOUT": "2s",
    "TEXTER_TIMEOUT": "11s",
    "TEXTER_RETRY_ATTEMPTS": "6",
    "TEXTER_RETRY_DEADLINE": "45s",
    "TEXTER_RETRY_AFTER_MAX": "90s",
    "TEXTER_BREAKER_THRESHOLD": "8",
    "TEXTER_BREAKER_COOLDOWN": "13s",
}
BASE = {"WEBHOOK_SECRET": "a-long-enough-secret-123"}
EXPECTED = ClientOptions(
    rate_limit=7.0,
    rate_burst=3,
    connect_timeout=2.0,
    timeout=11.0,
    retry=RetryConfig(attempts=6, deadline=45.0, retry_after_max=90.0),
    breaker_threshold=8,
    breaker_cooldown=13.0,
)


def test_the_table_has_every_texter_variable_with_a_non_default_value() -> None:
    texter = {v.name: v for v in VARIABLES if v.name.startswith("TEXTER_")}
    assert set(texter) - set(ENV) == {"TEXTER_PROJECT"}  # the alternative to TEXTER_BASE_URL
    assert all(texter[name].default != value for name, value in ENV.items())
    defaults = ClientOptions.from_settings(Settings.from_env(BASE))
    assert defaults == ClientOptions()  # settings defaults = client defaults ...
    assert ClientOptions() != EXPECTED  # ... so every field below differs from its default
    for field in ("rate_limit", "rate_burst", "connect_timeout", "timeout", "breaker_threshold"):
        assert getattr(EXPECTED, field) != getattr(defaults, field), field
    for field in ("attempts", "deadline", "retry_after_max"):
        assert getattr(EXPECTED.retry, field) != getattr(defaults.retry, field), field
    assert EXPECTED.breaker_cooldown != defaults.breaker_cooldown


def test_every_setting_reaches_the_options() -> None:
    settings = Settings.from_env({**BASE, **ENV})
    assert ClientOptions.from_settings(settings) == EXPECTED
    assert credentials(settings) == (URL, ENV["TEXTER_API_TOKEN"])


def test_the_project_gives_the_base_url() -> None:
    env = {**BASE, **ENV, "TEXTER_PROJECT": "acme"}
    del env["TEXTER_BASE_URL"]
    base_url, _ = credentials(Settings.from_env(env))
    assert base_url == "https://acme.texterchat.com/server/api/v2"


async def test_the_client_is_built_from_the_settings() -> None:
    """Internals on purpose: the session timeouts, limiter and breaker are what it runs with."""
    async with open_client_from_settings(Settings.from_env({**BASE, **ENV})) as client:
        transport = client._transport
        timeout = transport._session.timeout
        assert (timeout.total, timeout.sock_connect) == (11.0, 2.0)
        assert transport.base_url == URL
        assert transport._headers["Authorization"] == f"Bearer {ENV['TEXTER_API_TOKEN']}"
        assert transport._retry == EXPECTED.retry
        limiter = transport._limiter
        assert (limiter.max_rate, limiter.time_period) == (3, 3 / 7)  # 3 slots, 7 per second
        assert (client.breaker.threshold, client.breaker.cooldown) == (8, 13.0)
