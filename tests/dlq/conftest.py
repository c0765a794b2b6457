"""Fixtures of the dlq tests: a box over the parametrized `bus` (both transports), and an
SQLite send-once ledger in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.dlq.support import DIED_AT
from worker.bus import Bus, Topology
from worker.dlq import DeadLetterBox
from worker.state.sqlite_ledger import SQLiteLedger

NOW = DIED_AT + 3600  # the box's clock: the seeded dead letters are an hour old


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SQLiteLedger]:
    opened = await SQLiteLedger.open(tmp_path, horizon=3600)
    yield opened
    await opened.close()


@pytest.fixture
def box(bus: Bus, topology: Topology, ledger: SQLiteLedger) -> DeadLetterBox:
    return DeadLetterBox(bus, topology, ledger, publish_timeout=5, clock=lambda: NOW)
