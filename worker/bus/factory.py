"""Pick the transport from the settings: RabbitMQ when AMQP_URL is set, embedded otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from worker.bus.embedded import EmbeddedBus
from worker.bus.interface import Bus
from worker.bus.rabbitmq import RabbitBus
from worker.metrics import BusMetrics
from worker.settings import Settings

log = structlog.get_logger(__name__)


@asynccontextmanager
async def open_bus(settings: Settings, metrics: BusMetrics | None = None) -> AsyncIterator[Bus]:
    """The bus for these settings, closed on exit."""
    bus: Bus
    if settings.amqp_url is None:
        log.warning(
            "bus.embedded",
            detail="AMQP_URL is not set: using the embedded in-process transport. Messages live "
            "in memory and are lost when the process stops; set AMQP_URL for production.",
        )
        bus = EmbeddedBus(metrics)
    else:
        bus = await RabbitBus.connect(
            settings.amqp_url, connect_timeout=settings.amqp_connect_timeout, metrics=metrics
        )
    try:
        yield bus
    finally:
        await bus.close()
