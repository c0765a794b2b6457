"""ADMIN_TOKEN: a secret like the webhook's (16+ characters), never shown."""

from __future__ import annotations

import pytest

from worker.errors import ConfigError
from worker.settings import Settings

BASE = {"WEBHOOK_ALLOW_UNAUTHENTICATED": "true"}


def test_unset_means_no_admin_api() -> None:
    assert Settings.from_env(BASE).admin_token is None


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**BASE, "ADMIN_TOKEN": "short"})
    assert refused.value.problems[0].startswith("ADMIN_TOKEN: too short (5 characters, need 16+)")


def test_the_token_is_read_and_masked() -> None:
    settings = Settings.from_env({**BASE, "ADMIN_TOKEN": "admin-token-0123456789"})
    assert settings.admin_token == "admin-token-0123456789"
    assert ("admin_token", "'***'") in settings.public_items()
    assert "admin-token-0123456789" not in repr(settings)
