"""Every Prometheus metric texter-worker exports, declared here on an injected registry.

Naming: `texter_worker_<area>_<what>_<unit>`, counters end in `_total`, base units (seconds,
bytes), closed label sets only: never a chat id, phone or free text as a label value.
The catalogue with the question each metric answers lives in docs/operations.md.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from worker import __version__

NS = "texter_worker"

# Publish-with-confirm takes ~1 ms on a quiet local broker and seconds when it struggles.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# From webhook to Texter call (and a step with its in-process retries): milliseconds when all is
# well, hours when a Plan waited in the delay tiers (DELAY_SCHEDULE goes up to 2 h by default).
# Without the long buckets a backlog would read as a flat 10 s on the p99 panel.
SLOW_BUCKETS = (*LATENCY_BUCKETS, 30, 60, 300, 900, 1800, 3600, 7200, 21600)
# Evaluating 50 rules for an event takes tens of microseconds (bench/rules_eval.py).
EVALUATION_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1)
BODY_BUCKETS = (256, 1024, 2048, 4096, 8192, 16384, 65536, 262144, 1048576, 4194304)

INGRESS_OUTCOMES = ("accepted", "unauthorized", "too_large", "bad_request", "unavailable")
# Closed label sets exported as zeros from the start: an alert on `increase(x[10m]) > 0` never
# fires for a series whose first sample is already 1, so the first dead letter after a start
# would go unnoticed without them.
RULES_DEAD_LETTER_REASONS = ("poison", "rule_error", "budget_exceeded")
RULES_SKIP_REASONS = ("echo", "once_per_chat")
WRITER_PLAN_OUTCOMES = ("done", "retry_later", "parked", "state_unavailable", "dead_letter")
WRITER_DEAD_LETTER_REASONS = ("permanent", "in_doubt", "retries_exhausted", "poison")


def _zeros(counter: Counter, values: tuple[str, ...]) -> None:
    """Export each label value at 0 from the start (see the label sets above)."""
    for value in values:
        counter.labels(value)


@dataclass(frozen=True)
class IngressMetrics:
    requests: Counter
    events: Counter
    identity_fallback: Counter
    publish_seconds: Histogram
    body_bytes: Histogram
    in_flight: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> IngressMetrics:
        m = cls(
            requests=Counter(
                f"{NS}_ingress_requests",
                "Webhook requests by outcome.",
                ["outcome"],
                registry=registry,
            ),
            events=Counter(
                f"{NS}_ingress_events",
                "Accepted webhooks by eventName (other = unknown).",
                ["event"],
                registry=registry,
            ),
            identity_fallback=Counter(
                f"{NS}_ingress_identity_fallback",
                "Known events whose identity fields could not be read; keyed by body hash.",
                ["event"],
                registry=registry,
            ),
            publish_seconds=Histogram(
                f"{NS}_ingress_publish_seconds",
                "Time from publish to broker confirm (or failure) for a webhook.",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            body_bytes=Histogram(
                f"{NS}_ingress_body_bytes",
                "Size of authenticated webhook bodies read.",
                buckets=BODY_BUCKETS,
                registry=registry,
            ),
            in_flight=Gauge(
                f"{NS}_ingress_in_flight",
                "Webhook requests being handled right now.",
                registry=registry,
            ),
        )
        _zeros(m.requests, INGRESS_OUTCOMES)
        return m


@dataclass(frozen=True)
class BusMetrics:
    connected: Gauge
    publishes: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> BusMetrics:
        return cls(
            connected=Gauge(
                f"{NS}_bus_connected",
                "1 while the message bus is connected, else 0.",
                registry=registry,
            ),
            publishes=Counter(
                f"{NS}_bus_publishes",
                "Publishes by exchange role and result.",
                ["exchange", "result"],
                registry=registry,
            ),
        )


# Texter answers in tens of milliseconds when healthy; its total timeout defaults to 30 s.
TEXTER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Closed set of `status` label values for texter requests: an HTTP class or why there was none.
TEXTER_STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "timeout", "connection_error")
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True)
class TexterMetrics:
    """The outbound Texter client. `endpoint` values are the names in worker/texter/endpoints.py."""

    requests: Counter
    request_seconds: Histogram
    retries: Counter
    rate_limit_wait_seconds: Histogram
    rate_limit: Gauge
    unauthorized: Counter
    breaker_state: Gauge
    breaker_opened: Counter
    short_circuited: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> TexterMetrics:
        return cls(
            requests=Counter(
                f"{NS}_texter_requests",
                "HTTP requests sent to Texter, by endpoint and status class "
                "(2xx..5xx, timeout, connection_error).",
                ["endpoint", "status"],
                registry=registry,
            ),
            request_seconds=Histogram(
                f"{NS}_texter_request_seconds",
                "Duration of one HTTP request to Texter (one attempt), by endpoint.",
                ["endpoint"],
                buckets=TEXTER_BUCKETS,
                registry=registry,
            ),
            retries=Counter(
                f"{NS}_texter_retries",
                "In-process retries of Texter calls, by endpoint and reason.",
                ["endpoint", "reason"],
                registry=registry,
            ),
            rate_limit_wait_seconds=Histogram(
                f"{NS}_texter_rate_limit_wait_seconds",
                "Time a request waited for the client-side rate limiter.",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            rate_limit=Gauge(
                f"{NS}_texter_rate_limit_per_second",
                "The configured TEXTER_RATE_LIMIT of this process (requests per second).",
                registry=registry,
            ),
            unauthorized=Counter(
                f"{NS}_texter_unauthorized",
                "Texter answers 401/403: the token is wrong, revoked, or lacks a scope.",
                ["endpoint"],
                registry=registry,
            ),
            breaker_state=Gauge(
                f"{NS}_texter_breaker_state",
                "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
                registry=registry,
            ),
            breaker_opened=Counter(
                f"{NS}_texter_breaker_opened",
                "Times the circuit breaker opened.",
                registry=registry,
            ),
            short_circuited=Counter(
                f"{NS}_texter_short_circuited",
                "Calls failed fast by the open circuit breaker, by endpoint.",
                ["endpoint"],
                registry=registry,
            ),
        )


@dataclass(frozen=True)
class RulesMetrics:
    events: Counter
    matches: Counter
    plans: Counter
    errors: Counter
    skipped: Counter
    dead_letters: Counter
    seconds: Histogram
    evaluation_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> RulesMetrics:
        def counter(name: str, doc: str, labels: list[str]) -> Counter:
            return Counter(f"{NS}_rules_{name}", doc, labels, registry=registry)

        m = cls(
            events=counter("events", "Events consumed by the rules, by eventName.", ["event"]),
            # Rule names come from the rules file: a closed set chosen by the operator.
            matches=counter("matches", "Rules whose condition matched, by rule.", ["rule"]),
            plans=counter("plans", "Plans published to the writer, by rule.", ["rule"]),
            errors=counter("errors", "Rules that failed on an event, by rule.", ["rule"]),
            skipped=counter(
                "skipped", "Rules held back, by reason (echo, once_per_chat).", ["reason"]
            ),
            dead_letters=counter(
                "dead_letters", "Events or Plans the rules dead-lettered, by reason.", ["reason"]
            ),
            seconds=Histogram(
                f"{NS}_rules_event_seconds",
                "Time to handle one event: decide, publish the Plans, dead-letter failures.",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            evaluation_seconds=Histogram(
                f"{NS}_rules_evaluation_seconds",
                "Time to evaluate the rules for one event and build its Plans (no I/O).",
                buckets=EVALUATION_BUCKETS,
                registry=registry,
            ),
        )
        _zeros(m.dead_letters, RULES_DEAD_LETTER_REASONS)
        _zeros(m.skipped, RULES_SKIP_REASONS)
        return m


LEDGER_CLAIM_RESULTS = ("claimed", "done", "in_doubt")


@dataclass(frozen=True)
class StateMetrics:
    """Shared state (worker/state/). `backend` is redis or sqlite; `operation` a method name."""

    ledger_claims: Counter
    ledger_entries: Gauge
    errors: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> StateMetrics:
        m = cls(
            ledger_claims=Counter(
                f"{NS}_state_ledger_claims",
                "Send-once ledger claims by result (claimed = send it, done = already sent, "
                "in_doubt = an earlier attempt may have sent it).",
                ["result"],
                registry=registry,
            ),
            ledger_entries=Gauge(
                f"{NS}_state_ledger_entries",
                "Live entries in the send-once ledger (claimed or done, not yet expired).",
                registry=registry,
            ),
            errors=Counter(
                f"{NS}_state_errors",
                "State backend failures, by backend and operation.",
                ["backend", "operation"],
                registry=registry,
            ),
        )
        _zeros(m.ledger_claims, LEDGER_CLAIM_RESULTS)
        return m


@dataclass(frozen=True)
class WriterMetrics:
    plans: Counter
    dead_letters: Counter
    steps: Counter
    step_seconds: Histogram
    end_to_end_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> WriterMetrics:
        m = cls(
            plans=Counter(
                f"{NS}_writer_plans",
                "Plans (or continuations) handled, by outcome: done, retry_later, parked, "
                "state_unavailable (parked while the ledger or memory is down), dead_letter.",
                ["outcome"],
                registry=registry,
            ),
            dead_letters=Counter(
                f"{NS}_writer_dead_letters",
                "Plans the writer dead-lettered, by reason: permanent, in_doubt, "
                "retries_exhausted, poison.",
                ["reason"],
                registry=registry,
            ),
            steps=Counter(
                f"{NS}_writer_steps",
                "Steps by action and outcome: done, skipped (already done), transient, "
                "permanent, in_doubt.",
                ["action", "outcome"],
                registry=registry,
            ),
            step_seconds=Histogram(
                f"{NS}_writer_step_seconds",
                "Time to run one step, retries in process included.",
                ["action"],
                buckets=SLOW_BUCKETS,
                registry=registry,
            ),
            end_to_end_seconds=Histogram(
                f"{NS}_end_to_end_seconds",
                "From webhook received to the Texter call done, for steps of rule Plans.",
                buckets=SLOW_BUCKETS,
                registry=registry,
            ),
        )
        _zeros(m.plans, WRITER_PLAN_OUTCOMES)
        _zeros(m.dead_letters, WRITER_DEAD_LETTER_REASONS)
        return m


@dataclass(frozen=True)
class Metrics:
    """All metric groups of one process, on one registry."""

    registry: CollectorRegistry
    ingress: IngressMetrics
    bus: BusMetrics
    texter: TexterMetrics
    rules: RulesMetrics
    writer: WriterMetrics
    state: StateMetrics

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Metrics:
        reg = registry or CollectorRegistry()
        Info(f"{NS}_build", "Version of the running texter-worker.", registry=reg).info(
            {"version": __version__, "python": platform.python_version()}
        )
        return cls(
            registry=reg,
            ingress=IngressMetrics.create(reg),
            bus=BusMetrics.create(reg),
            texter=TexterMetrics.create(reg),
            rules=RulesMetrics.create(reg),
            writer=WriterMetrics.create(reg),
            state=StateMetrics.create(reg),
        )
