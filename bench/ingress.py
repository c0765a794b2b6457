"""Ingress throughput and latency against the real RabbitMQ, ours vs a minimal reference ingress.

    .venv/bin/python bench/ingress.py [--seconds 10] [--rounds 3] [--concurrency 32] [--quick]

Two servers run as subprocesses on the same broker: ours (`texter-worker run --role ingress`,
JSON logs to a file, metrics on) and `bench/reference_ingress.py` (decode the envelope, publish
persistent with a confirm to one quorum queue, 202). A load generator in another process (wrk
with a Lua script when installed, else an aiohttp client: `--loader`) posts the 19 sample
webhooks of `simulator/webhooks/` in turn, with the secret, at a fixed concurrency, closed loop.
Rounds alternate reference / ours so drift hits both; the queues are purged between runs.

Prints per run: accepted webhooks/s (2xx answers), p50/p99 latency, the server's and
RabbitMQ's CPU use; then the medians and the ratio ours/reference (goal >= 0.9). Not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.support import (
    SECRET,
    broker_cpu_seconds,
    broker_pid,
    cpu_seconds,
    delete_namespace,
    namespace,
    out,
    percentile,
    process,
    purge,
    topology_for,
    worker,
    worker_env,
)
from simulator.samples import webhook_body, webhook_names

HERE = Path(__file__).resolve().parent
PATH = "/webhooks/texter"
LUA = """\
local bodies = {%(bodies)s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(secret)s"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "%(path)s", nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "seconds": %%f, "non2xx": %%d, "errors": %%d, ' ..
    '"p50_ms": %%f, "p99_ms": %%f, "max_ms": %%f}\\n',
    summary.requests, summary.duration / 1e6, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


@dataclass(frozen=True)
class Run:
    target: str
    accepted_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu: float  # share of one core
    broker_cpu: float

    def line(self) -> str:
        return (
            f"{self.target:9} {self.accepted_per_s:8,.0f} accepted/s  p50 {self.p50_ms:6.2f} ms  "
            f"p99 {self.p99_ms:6.2f} ms  errors/non-2xx {self.errors}  "
            f"cpu server {self.server_cpu:4.0%} broker {self.broker_cpu:4.0%}"
        )


def bodies() -> list[bytes]:
    return [webhook_body(name) for name in webhook_names()]


def lua_script() -> str:
    quoted = ", ".join(f"[==[{b.decode()}]==]" for b in bodies())
    return LUA % {"bodies": quoted, "secret": SECRET, "path": PATH}


async def load_wrk(url: str, seconds: float, concurrency: int, script: Path) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
        "-s", str(script), url + PATH,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await proc.communicate()
    lines = [ln for ln in stdout.decode().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed: {stderr.decode()}{stdout.decode()}")
    result: dict[str, float] = json.loads(lines[-1])
    return result


async def load_aiohttp(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--loadgen", url + PATH, "--seconds", str(seconds),
        "--concurrency", str(concurrency), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = await proc.communicate()
    result: dict[str, float] = json.loads(stdout.decode().splitlines()[-1])
    return result


async def loadgen(url: str, seconds: float, concurrency: int) -> None:
    """The aiohttp load generator (runs in its own process): same JSON as the wrk script."""
    payloads, latencies = bodies(), []
    status_bad = errors = 0
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        end = started + seconds

        async def client(n: int) -> None:
            nonlocal status_bad, errors
            while (t0 := time.perf_counter()) < end:
                try:
                    async with session.post(url, data=payloads[n % len(payloads)]) as resp:
                        await resp.read()
                        status_bad += resp.status >= 300
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)
                n += concurrency

        await asyncio.gather(*(client(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    result = {
        "requests": len(ms), "seconds": elapsed, "non2xx": status_bad, "errors": errors,
        "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "max_ms": max(ms),
    }  # fmt: skip
    print(json.dumps(result))  # noqa: T201 - read by the parent process


async def measure(
    target: str, url: str, pid: int, *, seconds: float, concurrency: int, script: Path | None
) -> Run:
    beam = broker_pid()
    cpu0, beam0, t0 = cpu_seconds(pid), broker_cpu_seconds(beam), time.monotonic()
    if script is not None:
        r = await load_wrk(url, seconds, concurrency, script)
    else:
        r = await load_aiohttp(url, seconds, concurrency)
    wall = time.monotonic() - t0
    cpu, beam1 = cpu_seconds(pid) - cpu0, broker_cpu_seconds(beam)
    # Unknown (nan) rather than a crash when the broker is not visible here or restarted.
    beam_cpu = beam1 - beam0 if beam0 is not None and beam1 is not None else float("nan")
    ok = r["requests"] - r["non2xx"] - r["errors"]
    return Run(
        target, ok / r["seconds"], r["p50_ms"], r["p99_ms"], int(r["non2xx"] + r["errors"]),
        cpu / wall, beam_cpu / wall,
    )  # fmt: skip


@dataclass(frozen=True)
class Plan:
    seconds: float
    rounds: int
    concurrency: int
    warmup: float
    loader: str
    variant: dict[str, str]  # extra environment for a third server, "ours+<settings>"


async def run(plan: Plan) -> None:
    ns = namespace("ingress")
    topology = topology_for(ns, 4)
    reference_queue = f"{ns}.reference"
    queues = [*(q.name for q in topology.queues), reference_queue]
    runs: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingress-") as tmp:
        work = Path(tmp)
        script = None
        if plan.loader == "wrk":
            script = work / "post.lua"
            script.write_text(lua_script())
        env = worker_env(ns, work)
        ref_argv = [str(HERE / "reference_ingress.py"), "--queue", reference_queue]
        try:
            async with AsyncExitStack() as stack:
                servers = {
                    "reference": await stack.enter_async_context(
                        process(ref_argv, env, work / "reference.log")
                    ),
                    "ours": await stack.enter_async_context(
                        worker(env, "ingress", work / "ours.log")
                    ),
                }
                if plan.variant:
                    name = "ours+" + ",".join(f"{k}={v}" for k, v in plan.variant.items())
                    servers[name] = await stack.enter_async_context(
                        worker({**env, **plan.variant}, "ingress", work / "variant.log")
                    )
                targets = {name: (await s.url(), s.pid) for name, s in servers.items()}
                for name, (url, pid) in targets.items():  # warm-up, not counted
                    await measure(
                        name, url, pid, seconds=plan.warmup, concurrency=plan.concurrency,
                        script=script,
                    )  # fmt: skip
                for _ in range(plan.rounds):
                    for name, (url, pid) in targets.items():
                        await purge(queues)
                        result = await measure(
                            name, url, pid, seconds=plan.seconds, concurrency=plan.concurrency,
                            script=script,
                        )  # fmt: skip
                        runs.setdefault(name, []).append(result)
                        out(result.line())
        finally:
            await delete_namespace(topology, [reference_queue])
    report(runs, plan)


def report(runs: dict[str, list[Run]], plan: Plan) -> None:
    def med(name: str, attr: str) -> float:
        return float(statistics.median(float(getattr(r, attr)) for r in runs[name]))

    out(
        f"loader {plan.loader}, concurrency {plan.concurrency}, "
        f"{plan.rounds} x {plan.seconds:g}s per server, rounds alternate the servers"
    )
    for name, results in runs.items():
        rates = [r.accepted_per_s for r in results]
        out(
            f"{name} median: {med(name, 'accepted_per_s'):,.0f} accepted/s "
            f"(runs {', '.join(f'{x:,.0f}' for x in rates)}), "
            f"p50 {med(name, 'p50_ms'):.2f} ms, p99 {med(name, 'p99_ms'):.2f} ms"
        )
    for name, results in runs.items():
        if name == "reference":
            continue
        per_round = [
            o.accepted_per_s / r.accepted_per_s
            for o, r in zip(results, runs["reference"], strict=True)
        ]
        ratio = med(name, "accepted_per_s") / med("reference", "accepted_per_s")
        out(
            f"ratio {name}/reference: {ratio:.2f} "
            f"(per round {', '.join(f'{x:.2f}' for x in per_round)}; goal >= 0.9)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--loader", choices=("wrk", "aiohttp"), default=None)
    parser.add_argument("--quick", action="store_true", help="CI smoke: one short round")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help="also measure a third server: ours with these settings (e.g. LOG_LEVEL=warning)",
    )
    parser.add_argument("--loadgen", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        asyncio.run(loadgen(args.loadgen, args.seconds, args.concurrency))
        return
    loader = args.loader or ("wrk" if shutil.which("wrk") else "aiohttp")
    variant = dict(item.split("=", 1) for item in args.variant)
    if args.quick:
        plan = Plan(2.0, 1, args.concurrency, 1.0, loader, variant)
    else:
        plan = Plan(args.seconds, args.rounds, args.concurrency, 2.0, loader, variant)
    asyncio.run(run(plan))


if __name__ == "__main__":
    main()
