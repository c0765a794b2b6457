"""Realistic webhook deliveries, one per documented Texter event (`webhooks/<eventName>.json`).

Copied from the offline Texter reference; the structure follows Texter's subscription templates,
the values (names, phones, ids) are invented.
"""

from __future__ import annotations

from importlib.resources import files


def webhook_names() -> list[str]:
    """The eventName of every bundled sample, sorted."""
    folder = files(__package__).joinpath("webhooks")
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def webhook_body(event_name: str) -> bytes:
    """The sample delivery body of one event, as the exact bytes Texter would POST."""
    return files(__package__).joinpath("webhooks", f"{event_name}.json").read_bytes()
