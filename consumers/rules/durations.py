"""Durations in rules files: `90s`, `30m`, `24h`, `7d`, `1h30m`, `500ms`, or a number of seconds."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds, > 0. ValueError with the accepted forms when `text` is not a duration."""
    raw = text.strip().replace(" ", "")
    total: float | None = None
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        total = float(raw)
    elif raw and re.fullmatch(f"(?:{_PART.pattern})+", raw):
        total = sum(float(n) * _SECONDS[unit] for n, unit in _PART.findall(raw))
    if total is None:
        raise ValueError(f"expected a duration like 90s, 30m, 24h, 7d or 1h30m, got {text!r}")
    if total <= 0:
        raise ValueError(f"a duration must be greater than zero, got {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact way to write it back (for summaries): 86400 -> 1d, 5400 -> 90m."""
    for unit in ("w", "d", "h", "m", "s"):
        count = seconds / _SECONDS[unit]
        # 24h reads better than 1d, 36h better than 1.5d: days and weeks only from two up
        if count >= (2 if unit in "wd" else 1) and count == int(count):
            return f"{int(count)}{unit}"
    return f"{seconds:g}s"
