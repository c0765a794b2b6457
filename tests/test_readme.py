"""The README's commands name things that exist: a chat of the seeded fake Texter, real
variables, real commands."""

from __future__ import annotations

import re
from pathlib import Path

from simulator.server import FakeTexter
from worker.cli import build_parser
from worker.settings import VARIABLES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _run_snippet() -> str:
    start = README.index("To run the service itself")
    return README[start : README.index("## ", start)]


def test_the_run_snippet_uses_a_chat_the_fake_seeds() -> None:
    chat_ids = re.findall(r"/_control/chats/([0-9a-f]{24})/incoming", _run_snippet())
    assert chat_ids
    fake = FakeTexter(token="dev-token", seed=True)  # state only: nothing is served
    assert set(chat_ids) <= set(fake.state.chats)


def test_the_run_snippet_sets_only_real_variables_and_commands() -> None:
    snippet = _run_snippet()
    names = {v.name for v in VARIABLES}
    used = set(re.findall(r"\b([A-Z][A-Z_]{3,})=", snippet))
    assert used
    assert used <= names, used - names
    for command in re.findall(r"texter-worker (\w+[^&\n]*)", snippet):
        build_parser().parse_args(command.split())  # exits (fails the test) on a bad command
