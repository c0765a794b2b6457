"""Deploy tests: a loud banner when promtool was missing and its checks were skipped."""

from __future__ import annotations

import pytest

SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "NO PROMTOOL" in str(report.longrepr):
        SKIPPED.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SKIPPED:
        return
    terminalreporter.section("PROMTOOL CHECKS SKIPPED", sep="!", red=True, bold=True)
    terminalreporter.write_line(
        f"{len(SKIPPED)} checks of the alert rules and dashboard queries need promtool and were "
        "SKIPPED. Install it (apt-get download prometheus; dpkg-deb -x; see .ci/run); "
        "REQUIRE_PROMTOOL=1 turns these skips into failures.",
        red=True,
    )
