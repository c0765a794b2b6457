"""EVENT_LOOP: uvloop where installed (auto), asyncio on request, a clear error otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from worker import loop
from worker.errors import ConfigError


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_auto_runs_on_uvloop_when_it_is_installed() -> None:
    pytest.importorskip("uvloop")
    assert loop.run(_loop_module(), "auto").startswith("uvloop")
    assert loop.run(_loop_module(), "uvloop").startswith("uvloop")


def test_asyncio_runs_on_the_standard_loop() -> None:
    assert loop.run(_loop_module(), "asyncio").startswith("asyncio")


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what an absent package looks like
    assert loop.loop_factory("auto") is None
    with pytest.raises(ConfigError) as refused:
        loop.loop_factory("uvloop")
    assert refused.value.problems == ["EVENT_LOOP: uvloop is not installed (pip install uvloop)"]
