"""structlog set-up: one structured line per event, JSON when not on a terminal.

Bind ids with `structlog.contextvars.bind_contextvars(...)` so every line of one message carries
them. Never pass secrets or tokens as log fields; settings are logged through their masked repr.
As a second line of defence, `mask_pii` hides phone numbers (and values of secret-looking
fields) in every line unless LOG_PII=true: contacts' phones are personal data, and Texter's
error bodies or a rule's text can carry them.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import msgspec
import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


# International phone numbers as WhatsApp ids carry them: 9 to 15 digits, maybe a leading +.
# Not inside a word, a dotted or dashed id (wamid.…, 1712345678.123, a UUID's last group); a
# sentence's full stop may follow.
_PHONE = re.compile(r"(?<![\w.-])\+?(\d{3})\d{3,9}(\d{3})(?![\w-]|\.\w)")
# As people write them: "+972 54-123-4567", "054-1234567", "+1 415 555 0100". A + or a trunk
# 0 and an area code first, then groups split by one space or dash (9 to 15 digits in all).
# Dates, times, UUIDs and ObjectIds do not start that way or are glued to more id characters.
_WRITTEN_PHONE = re.compile(
    r"(?<![\w.:/+-])(?:\+\d{1,3}|0\d{1,3})(?:[ -]\d{2,10}){1,4}(?![\w:/-]|\.\w)"
)
_MASKABLE = (str, list, tuple, dict)
_CACHED_CHARS = 256  # longer strings (error bodies) are masked afresh: they rarely repeat
_SECRET_KEYS = re.compile(r"token|secret|password|authorization|api_key", re.IGNORECASE)


def _mask_written(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m[0])
    return f"{digits[:3]}***{digits[-3:]}" if 9 <= len(digits) <= 15 else m[0]


def _mask_phones(value: str) -> str:
    return _PHONE.sub(lambda m: f"{m[1]}***{m[2]}", _WRITTEN_PHONE.sub(_mask_written, value))


# Log lines repeat the same few strings (event names, outcomes, the ids of the message being
# processed) and the same keys: remembering the answers keeps masking off the hot path's profile.
_mask_short = functools.lru_cache(maxsize=4096)(_mask_phones)


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    return _SECRET_KEYS.search(key) is not None


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return _mask_short(value) if len(value) <= _CACHED_CHARS else _mask_phones(value)
    if isinstance(value, (list, tuple)):  # a tuple: isinstance with a union is slower
        return [_mask(v) for v in value]
    if isinstance(value, dict):
        return {k: "***" if _secret_key(str(k)) else _mask(v) for k, v in value.items()}
    return value


def mask_pii(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask phone numbers everywhere and the values of secret-looking keys."""
    for key, value in event.items():
        if _secret_key(key):
            event[key] = "***"
        elif isinstance(value, _MASKABLE):  # other values (numbers, None) are left as they are
            event[key] = _mask(value)
    return event


# msgspec renders a line in a fifth of the time json.dumps takes (the per-webhook line is on
# the ingress's hot path); what it cannot encode is written as its repr, as structlog does.
_ENCODER = msgspec.json.Encoder(enc_hook=repr)


def _json(event: Any, **_: Any) -> str:
    return _ENCODER.encode(event).decode()


def configure_logging(
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    *,
    pii: bool = False,
    final: bool = False,
) -> None:
    """Configure structlog and the stdlib root logger (aio-pika, aiohttp) to one format.

    `final=True` (the service, configured once per process) lets every module's logger keep
    its configuration after its first line instead of rebuilding it on every call; tests and
    the demo, which configure again, leave it off."""
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    # Tracebacks are rendered before masking, so a phone in an exception's text is masked too;
    # the timestamp after it, as it never holds one.
    tail: list[structlog.types.Processor] = [structlog.processors.format_exc_info]
    if not pii:
        tail.append(mask_pii)
    tail.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json)
        if use_json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=final,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, *tail],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Library chatter (reconnect attempts, etc.) at warning and above only, unless debugging.
    root.setLevel(_LEVELS[level] if level == "debug" else max(_LEVELS[level], logging.WARNING))
