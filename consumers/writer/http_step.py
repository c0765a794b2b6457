"""The `http` step: a JSON request to an external system (a CRM...), with its own timeout.

It uses its own aiohttp session, so the Texter token can never travel with it. The outcome is
judged with the same policy as Texter calls, the request counting as non-idempotent: a timeout
or a 5xx other than 503 after the request left is in doubt, not retried blindly.
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp

from consumers.writer.outcome import Kind, StepFailure
from worker.plans import Http
from worker.texter.policy import NoAnswer, Verdict, decide, parse_retry_after

MAX_ERROR_BODY = 300
# A connect that hangs (a dead host, a full accept queue) certainly sent nothing: give up on it
# early, as a transient failure, instead of letting the total timeout call it in doubt.
CONNECT_TIMEOUT = 5.0


async def run_http(
    session: aiohttp.ClientSession, step: Http, *, connect_timeout: float = CONNECT_TIMEOUT
) -> None:
    timeout = aiohttp.ClientTimeout(
        total=step.timeout, sock_connect=min(step.timeout, connect_timeout)
    )
    try:
        async with session.request(
            step.method, step.url, json=step.json, headers=step.headers, timeout=timeout
        ) as resp:
            body = (await resp.text(errors="replace"))[:MAX_ERROR_BODY]
            wait = parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC))
            outcome: int | NoAnswer = resp.status
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        raise StepFailure(Kind.TRANSIENT, f"http {step.url}: connect failed: {exc}") from exc
    except TimeoutError as exc:
        raise StepFailure(Kind.IN_DOUBT, f"http {step.url}: no answer in {step.timeout}s") from exc
    except aiohttp.ClientError as exc:
        raise StepFailure(Kind.IN_DOUBT, f"http {step.url}: connection lost: {exc}") from exc
    _judge(step, outcome, body, wait)


def _judge(step: Http, status: int | NoAnswer, body: str, wait: float | None) -> None:
    decision = decide(status, idempotent=False, retry_after=wait)
    if decision.verdict is Verdict.SUCCESS:
        return
    what = f"http {step.method} {step.url}: HTTP {status}: {body}"
    if decision.verdict in (Verdict.RETRY, Verdict.TRANSIENT):
        raise StepFailure(Kind.TRANSIENT, what, wait)
    if decision.verdict is Verdict.AMBIGUOUS:
        raise StepFailure(Kind.IN_DOUBT, what)
    raise StepFailure(Kind.PERMANENT, what)
