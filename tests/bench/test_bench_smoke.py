"""Every benchmark script runs in its `--quick` mode and prints its figure lines.

Figures are not checked against any goal here (they depend on the machine and on what else
runs); docs/performance.md records them. Needs RabbitMQ (and Redis for scale_out).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

# script -> lines it must print (prefixes)
FIGURES = {
    "ingress.py": ("reference median:", "ours median:", "ratio ours/reference:"),
    "end_to_end.py": ("end-to-end latency: p50",),
    "rate_limit.py": ("achieved rate:", "requests over the limit"),
    "burst.py": ("absorb:", "drain (", "peak RSS"),
    "scale_out.py": ("one ", "two ", "scale-out ratio two/one:"),
    "rules_eval.py": ("events/s", "rule evaluations/s"),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(FIGURES))
def test_benchmark_runs_and_prints_its_figures(script: str, amqp_url: str, redis_url: str) -> None:
    args = ["--seconds", "0.5"] if script == "rules_eval.py" else ["--quick"]
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for prefix in FIGURES[script]:
        assert any(line.startswith(prefix) for line in lines), (prefix, done.stdout)
