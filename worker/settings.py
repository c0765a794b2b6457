"""One frozen Settings object, read from the environment once at start.

`VARIABLES` is the single source of truth for every knob: `from_env` reads only names listed there,
`texter-worker --help` prints it, and a test checks `docs/configuration.md` documents each one.
Every problem is collected (one line each, naming the variable) and raised together as a
`ConfigError`, so a bad deployment fails at start with a message that says what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from worker.errors import ConfigError


@dataclass(frozen=True)
class Var:
    """One environment variable: its default (as text, None = unset) and what it does."""

    name: str
    default: str | None
    help: str
    secret: bool = False


VARIABLES: tuple[Var, ...] = (
    Var(
        "AMQP_URL",
        None,
        "RabbitMQ URL, e.g. amqp://user:pass@host:5672/vhost. "
        "Unset: the embedded in-process transport (not durable; for demos and small installs).",
        secret=True,
    ),
    Var(
        "AMQP_CONNECT_TIMEOUT",
        "30s",
        "How long start-up keeps trying to reach RabbitMQ before "
        "giving up. After the first connection, reconnection never gives up.",
    ),
    Var(
        "BUS_NAMESPACE",
        "texter",
        "Prefix of every exchange and queue name "
        "(<ns>.events, <ns>.rules.<n>, <ns>.dead). Lets two installs share one vhost.",
    ),
    Var(
        "BUS_SHARDS",
        "4",
        "Number of per-chat shards (queues per stage). Events of one chat "
        "always go to one shard, which keeps them in order. Change only on an empty bus.",
    ),
    Var("HTTP_HOST", "0.0.0.0", "Address the HTTP server (webhooks, probes, metrics) binds."),
    Var("HTTP_PORT", "8080", "Port of the HTTP server; 0 picks a free port (logged at start)."),
    Var(
        "WEBHOOK_SECRET",
        None,
        "Shared secret Texter must present (Authorization: Bearer, "
        "X-Webhook-Token header, or ?token=). At least 16 characters. Required unless "
        "WEBHOOK_ALLOW_UNAUTHENTICATED=true.",
        secret=True,
    ),
    Var(
        "WEBHOOK_ALLOW_UNAUTHENTICATED",
        "false",
        "Accept webhooks without a secret. Only for "
        "a private network; the service refuses to start without a secret otherwise.",
    ),
    Var(
        "WEBHOOK_MAX_BYTES",
        "1048576",
        "Largest webhook body accepted, in bytes; larger bodies get 413.",
    ),
    Var(
        "PUBLISH_TIMEOUT",
        "5s",
        "How long the ingress waits for the broker's publisher confirm before answering 503.",
    ),
    Var("WEBHOOK_RETRY_AFTER", "5", "Seconds put in the Retry-After header of a 503."),
    Var(
        "ADMIN_TOKEN",
        None,
        "Bearer token of the admin HTTP API (/admin/dlq...), used by `texter-worker dlq` "
        "against a service on the embedded transport. At least 16 characters. Unset: no admin API.",
        secret=True,
    ),
    Var(
        "SHUTDOWN_DELAY",
        "0s",
        "After SIGTERM, keep serving this long with /readyz failing, "
        "so a load balancer stops sending traffic first (Kubernetes: a few seconds).",
    ),
    Var(
        "SHUTDOWN_TIMEOUT",
        "20s",
        "After intake stops, how long in-flight requests and "
        "messages may take before they are abandoned (and redelivered by the broker).",
    ),
    Var(
        "TEXTER_BASE_URL",
        None,
        "Texter API root, e.g. "
        "https://acme.texterchat.com/server/api/v2. Set this or TEXTER_PROJECT, not both.",
    ),
    Var(
        "TEXTER_PROJECT",
        None,
        "Texter project id (the sub-domain): acme means https://acme.texterchat.com/server/api/v2.",
    ),
    Var(
        "TEXTER_API_TOKEN",
        None,
        "Texter API token (Developers > API Tokens). Never logged.",
        secret=True,
    ),
    Var(
        "TEXTER_RATE_LIMIT",
        "10",
        "Texter requests per second this process may make, shared "
        "by all its callers. With N replicas, give each the account's limit divided by N.",
    ),
    Var(
        "TEXTER_RATE_BURST",
        None,
        "Requests that may go out at once after an idle spell. "
        "Default: the rate limit rounded up (one second's worth).",
    ),
    Var("TEXTER_CONNECT_TIMEOUT", "5s", "Timeout to open a connection to Texter."),
    Var("TEXTER_TIMEOUT", "30s", "Total timeout of one Texter request."),
    Var(
        "TEXTER_RETRY_ATTEMPTS",
        "4",
        "Attempts per Texter call, the first included, for failures that are safe to retry.",
    ),
    Var("TEXTER_RETRY_DEADLINE", "30s", "Time budget of one Texter call across its retries."),
    Var(
        "TEXTER_RETRY_AFTER_MAX",
        "60s",
        "Cap on a Retry-After the client will wait in process; "
        "longer waits fail the call as transient.",
    ),
    Var(
        "TEXTER_BREAKER_THRESHOLD",
        "5",
        "Consecutive 5xx/timeouts that open the circuit breaker (calls then fail fast).",
    ),
    Var(
        "TEXTER_BREAKER_COOLDOWN",
        "30s",
        "How long the breaker stays open before one probe call is let through.",
    ),
    Var(
        "DELAY_SCHEDULE",
        "10s,1m,5m,30m,2h",
        "Waits before the writer's 2nd, 3rd, ... attempt of a Plan after a transient failure "
        "(comma-separated; one delay queue each). After the last, the Plan is dead-lettered "
        "with reason retries_exhausted.",
    ),
    Var(
        "WRITER_PREFETCH",
        "8",
        "Plans a writer consumer holds per shard queue (they run one at a time, in order; the "
        "rest wait in memory, unacked).",
    ),
    Var(
        "RULES_FILE",
        "rules.yaml",
        "The rules file (YAML) the rules consumer loads. "
        "SIGHUP reloads it; a bad new file keeps the old rules running.",
    ),
    Var(
        "RULES_WATCH",
        "0s",
        "Also reload RULES_FILE when it changes, checking this often (e.g. 10s; 0s = only on "
        "SIGHUP). For files that change without a signal, like a Kubernetes ConfigMap.",
    ),
    Var(
        "STATE_URL",
        None,
        "Shared state for several replicas: redis://[:password@]host:6379/0. "
        "Unset: state lives in the process (rules memory) and under STATE_DIR (send-once ledger).",
        secret=True,
    ),
    Var(
        "STATE_DIR",
        "state",
        "Directory for the embedded state files (the SQLite send-once ledger).",
    ),
    Var(
        "LEDGER_HORIZON",
        "72h",
        "How long the send-once ledger remembers a send. Replays older than this may send again.",
    ),
    Var(
        "ECHO_WINDOW",
        "2m",
        "How long the worker remembers its own writes, so the webhooks they "
        "cause are recognised as echoes (rules with ignore_own_writes skip them).",
    ),
    Var(
        "CHAT_BUDGET",
        "20",
        "Most steps the rules may plan for one chat per CHAT_BUDGET_WINDOW; "
        "beyond it, Plans are dead-lettered (reason budget_exceeded) and logged as a runaway.",
    ),
    Var("CHAT_BUDGET_WINDOW", "1m", "The window of CHAT_BUDGET."),
    Var("LOG_LEVEL", "info", "debug, info, warning or error."),
    Var(
        "LOG_PII",
        "false",
        "Log contacts' phone numbers as they are. By default they are masked (972***567), "
        "as are values of secret-looking fields.",
    ),
    Var("LOG_FORMAT", "auto", "json, console, or auto (console on a terminal, JSON otherwise)."),
    Var(
        "EVENT_LOOP",
        "auto",
        "The event loop of `run`: uvloop (less CPU per webhook and step), asyncio, or auto "
        "(uvloop where it is installed, as it is on Linux and macOS; asyncio elsewhere).",
    ),
)

_BY_NAME = {v.name: v for v in VARIABLES}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_PROJECT = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
MIN_SECRET_LENGTH = 16


class _Reader:
    """Reads typed values by variable name, collecting one problem line per bad variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return _BY_NAME[name].default
        return value.strip()

    def fail(self, name: str, why: str) -> None:
        self.problems.append(f"{name}: {why}")

    def text(self, name: str) -> str | None:
        return self.raw(name)

    def integer(self, name: str, low: int, high: int) -> int:
        raw = self.raw(name) or ""
        try:
            value = int(raw)
        except ValueError:
            self.fail(name, f"expected a whole number, got {raw!r}")
            return low
        if not low <= value <= high:
            self.fail(name, f"must be between {low} and {high}, got {value}")
        return value

    def number(self, name: str, low: float) -> float:
        raw = self.raw(name) or ""
        try:
            value = float(raw)
        except ValueError:
            self.fail(name, f"expected a number, got {raw!r}")
            return low
        if not value > low:
            self.fail(name, f"must be greater than {low:g}, got {raw}")
        return value

    def duration(self, name: str, *, allow_zero: bool = False) -> float:
        raw = self.raw(name) or ""
        match = _DURATION.match(raw)
        if not match:
            self.fail(name, f"expected a duration like 500ms, 5s, 2m or 1h, got {raw!r}")
            return 1.0
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
        if seconds == 0 and not allow_zero:
            self.fail(name, "must be greater than zero")
        return seconds

    def boolean(self, name: str) -> bool:
        raw = (self.raw(name) or "").lower()
        if raw in _TRUE | _FALSE:
            return raw in _TRUE
        self.fail(name, f"expected true or false, got {raw!r}")
        return False

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        raw = (self.raw(name) or "").lower()
        if raw not in choices:
            self.fail(name, f"expected one of {', '.join(choices)}, got {raw!r}")
            return choices[0]
        return raw


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for logs and repr."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, repr=False)
class Settings:
    """Validated configuration. Build it with `Settings.from_env(os.environ)`."""

    amqp_url: str | None = None
    amqp_connect_timeout: float = 30.0
    bus_namespace: str = "texter"
    bus_shards: int = 4
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    webhook_secret: str | None = None
    webhook_allow_unauthenticated: bool = False
    webhook_max_bytes: int = 1_048_576
    publish_timeout: float = 5.0
    webhook_retry_after: int = 5
    admin_token: str | None = None
    shutdown_delay: float = 0.0
    shutdown_timeout: float = 20.0
    texter_base_url: str | None = None
    texter_api_token: str | None = None
    texter_rate_limit: float = 10.0
    texter_rate_burst: int = 10
    texter_connect_timeout: float = 5.0
    texter_timeout: float = 30.0
    texter_retry_attempts: int = 4
    texter_retry_deadline: float = 30.0
    texter_retry_after_max: float = 60.0
    texter_breaker_threshold: int = 5
    texter_breaker_cooldown: float = 30.0
    delay_schedule: tuple[float, ...] = (10.0, 60.0, 300.0, 1800.0, 7200.0)
    writer_prefetch: int = 8
    rules_file: Path = Path("rules.yaml")
    rules_watch: float = 0.0
    state_url: str | None = None
    state_dir: Path = Path("state")
    ledger_horizon: float = 72 * 3600.0
    echo_window: float = 120.0
    chat_budget: int = 20
    chat_budget_window: float = 60.0
    log_level: str = "info"
    log_format: str = "auto"
    log_pii: bool = False
    event_loop: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every variable; raise ConfigError listing all problems."""
        r = _Reader(env)
        rate = r.number("TEXTER_RATE_LIMIT", 0)
        settings = cls(
            amqp_url=_amqp_url(r),
            amqp_connect_timeout=r.duration("AMQP_CONNECT_TIMEOUT"),
            bus_namespace=_namespace(r),
            bus_shards=r.integer("BUS_SHARDS", 1, 256),
            http_host=r.text("HTTP_HOST") or "0.0.0.0",
            http_port=r.integer("HTTP_PORT", 0, 65535),
            webhook_secret=_secret(r, "WEBHOOK_SECRET"),
            webhook_allow_unauthenticated=r.boolean("WEBHOOK_ALLOW_UNAUTHENTICATED"),
            webhook_max_bytes=r.integer("WEBHOOK_MAX_BYTES", 1, 64 * 1_048_576),
            publish_timeout=r.duration("PUBLISH_TIMEOUT"),
            webhook_retry_after=r.integer("WEBHOOK_RETRY_AFTER", 1, 3600),
            admin_token=_secret(r, "ADMIN_TOKEN"),
            shutdown_delay=r.duration("SHUTDOWN_DELAY", allow_zero=True),
            shutdown_timeout=r.duration("SHUTDOWN_TIMEOUT"),
            texter_base_url=_texter_base_url(r),
            texter_api_token=r.text("TEXTER_API_TOKEN"),
            texter_rate_limit=rate,
            texter_rate_burst=_burst(r, rate),
            texter_connect_timeout=r.duration("TEXTER_CONNECT_TIMEOUT"),
            texter_timeout=r.duration("TEXTER_TIMEOUT"),
            texter_retry_attempts=r.integer("TEXTER_RETRY_ATTEMPTS", 1, 20),
            texter_retry_deadline=r.duration("TEXTER_RETRY_DEADLINE"),
            texter_retry_after_max=r.duration("TEXTER_RETRY_AFTER_MAX"),
            texter_breaker_threshold=r.integer("TEXTER_BREAKER_THRESHOLD", 1, 1000),
            texter_breaker_cooldown=r.duration("TEXTER_BREAKER_COOLDOWN"),
            delay_schedule=_schedule(r),
            writer_prefetch=r.integer("WRITER_PREFETCH", 1, 1000),
            rules_file=Path(r.text("RULES_FILE") or "rules.yaml"),
            rules_watch=r.duration("RULES_WATCH", allow_zero=True),
            state_url=_state_url(r),
            state_dir=Path(r.text("STATE_DIR") or "state"),
            ledger_horizon=r.duration("LEDGER_HORIZON"),
            echo_window=r.duration("ECHO_WINDOW"),
            chat_budget=r.integer("CHAT_BUDGET", 1, 100_000),
            chat_budget_window=r.duration("CHAT_BUDGET_WINDOW"),
            log_level=r.choice("LOG_LEVEL", ("info", "debug", "warning", "error")),
            log_format=r.choice("LOG_FORMAT", ("auto", "json", "console")),
            log_pii=r.boolean("LOG_PII"),
            event_loop=r.choice("EVENT_LOOP", ("auto", "uvloop", "asyncio")),
        )
        _check_webhook_auth(r, settings)
        if r.problems:
            raise ConfigError(r.problems)
        return settings

    @property
    def embedded(self) -> bool:
        """True when no AMQP_URL is set: the in-process transport is used."""
        return self.amqp_url is None

    def public_items(self) -> list[tuple[str, str]]:
        """(field, value) pairs safe to print: secrets masked, the AMQP password hidden."""
        secret_fields = {"webhook_secret", "texter_api_token", "admin_token"}
        items = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in secret_fields and value is not None:
                shown = "'***'"
            elif f.name in {"amqp_url", "state_url"} and value is not None:
                shown = repr(mask_url(value))
            else:
                shown = repr(value)
            items.append((f.name, shown))
        return items

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.public_items())
        return f"Settings({inner})"


def _amqp_url(r: _Reader) -> str | None:
    url = r.text("AMQP_URL")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"amqp", "amqps"} or not parts.hostname:
        r.fail("AMQP_URL", f"expected amqp://user:pass@host:port/vhost, got {mask_url(url)!r}")
    return url


def _namespace(r: _Reader) -> str:
    ns = r.text("BUS_NAMESPACE") or ""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", ns):
        r.fail("BUS_NAMESPACE", f"use 1-64 letters, digits, _ or -, got {ns!r}")
    return ns


def _secret(r: _Reader, name: str) -> str | None:
    secret = r.text(name)
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        r.fail(
            name,
            f"too short ({len(secret)} characters, need {MIN_SECRET_LENGTH}+); make one with "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return secret


def _check_webhook_auth(r: _Reader, s: Settings) -> None:
    if s.webhook_secret is None and not s.webhook_allow_unauthenticated:
        r.fail(
            "WEBHOOK_SECRET",
            "not set; set a secret, or WEBHOOK_ALLOW_UNAUTHENTICATED=true to accept "
            "unauthenticated webhooks on a private network",
        )


def _texter_base_url(r: _Reader) -> str | None:
    base, project = r.text("TEXTER_BASE_URL"), r.text("TEXTER_PROJECT")
    if base is not None and project is not None:
        r.fail("TEXTER_BASE_URL", "set TEXTER_BASE_URL or TEXTER_PROJECT, not both")
        return None
    if project is not None:
        if not _PROJECT.match(project):
            r.fail("TEXTER_PROJECT", f"expected the sub-domain, e.g. acme, got {project!r}")
            return None
        return f"https://{project}.texterchat.com/server/api/v2"
    if base is None:
        return None
    parts = urlsplit(base)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        r.fail("TEXTER_BASE_URL", f"expected an http(s) URL, got {base!r}")
        return None
    return base.rstrip("/")


def _burst(r: _Reader, rate: float) -> int:
    if r.raw("TEXTER_RATE_BURST") is None:
        return max(1, int(-(-rate // 1)))
    return r.integer("TEXTER_RATE_BURST", 1, 100_000)


def _state_url(r: _Reader) -> str | None:
    url = r.text("STATE_URL")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
        r.fail("STATE_URL", f"expected redis://host:6379/0, got {mask_url(url)!r}")
    return url


def _schedule(r: _Reader) -> tuple[float, ...]:
    raw = r.text("DELAY_SCHEDULE") or ""
    delays = []
    for part in raw.split(","):
        match = _DURATION.match(part)
        if not match or float(match[1]) == 0:
            r.fail("DELAY_SCHEDULE", f"expected durations like 10s,1m,5m, got {raw!r}")
            return (10.0,)
        delays.append(float(match[1]) * _UNIT_SECONDS[match[2]])
    if len(delays) > 20 or len(set(delays)) != len(delays):
        r.fail("DELAY_SCHEDULE", "use at most 20 distinct delays")
    return tuple(delays)
