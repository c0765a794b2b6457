"""The bundled (SUB) templates, and `texter-worker subscribe` / `subscriptions list` end to end.

The CLI runs `asyncio.run` itself, so it runs in a worker thread while the fake Texter serves
on the test's event loop.
"""

from __future__ import annotations

import asyncio

import pytest

from simulator.server import FakeTexter
from worker.cli import main
from worker.texter.subscriptions import event_names, placeholders, prepare, template

from .conftest import TOKEN

URL = "https://hooks.example.com/webhooks/texter?token=s3cret-s3cret-s3cret"


def test_all_19_templates_are_bundled() -> None:
    names = event_names()
    assert len(names) == 19
    for name in names:
        body = template(name)
        assert body["data"]["actions"][0]["params"]["data"]["eventName"] == name
        assert body["data"]["name"].startswith("(SUB)")


def test_prepare_fills_the_url_without_touching_the_rest() -> None:
    prepared = prepare("chatResolved", URL)
    assert prepared.data["actions"][0]["params"]["url"] == URL
    assert prepared.as_status == "active"
    original = template("chatResolved")["data"]
    original["actions"][0]["params"]["url"] = URL
    assert prepared.data == original


def test_unfilled_filter_placeholders_import_inactive() -> None:
    prepared = prepare("newMatchedMessage", URL)
    assert (prepared.as_status, prepared.unfilled) == ("inactive", frozenset({"word1", "word2"}))
    filled = prepare("newMatchedMessage", URL, values={"word1": "help", "word2": "buy"})
    assert (filled.as_status, filled.unfilled) == ("active", frozenset())
    expression = filled.data["conditions"][0][1]["params"]["expression"]
    assert expression == 'text == "help" or text == "buy"'
    assert (
        placeholders(prepare("chatSpecificLabelAdded", URL, values={"targetLabelId": "vip"}).data)
        == set()
    )


def test_filter_values_cannot_break_out_of_the_expression() -> None:
    with pytest.raises(ValueError, match="quotes"):
        prepare("newMatchedMessage", URL, values={"word1": 'x" or true or "'})


@pytest.fixture
def texter_env(fake: FakeTexter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTER_BASE_URL", fake.url)
    monkeypatch.setenv("TEXTER_API_TOKEN", TOKEN)
    monkeypatch.delenv("TEXTER_PROJECT", raising=False)
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)


@pytest.mark.usefixtures("texter_env")
async def test_subscribe_all_then_list(
    fake: FakeTexter, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(main, ["subscribe", "--url", URL, "--set", "word1=help"])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 19
    ids = [line.split()[0] for line in out]
    assert set(ids) == set(fake.state.scenarios)
    imported = [c.body for c in fake.calls_to("POST", "/scenarios/manage/import")]
    assert len(imported) == 19
    assert {b["data"]["actions"][0]["params"]["url"] for b in imported} == {URL}
    inactive = [line for line in out if "inactive" in line]
    assert len(inactive) == 2  # word2 and targetLabelId were not given
    assert "fill word2" in " ".join(inactive)

    code = await asyncio.to_thread(main, ["subscriptions", "list"])
    assert code == 0
    listing = capsys.readouterr().out
    assert "19 scenario(s)" in listing
    assert "(SUB) Chat Resolved" in listing
    assert "s3cret" not in listing  # the ingress secret in the URL is masked
    assert "token=***" in listing


@pytest.mark.usefixtures("texter_env")
async def test_subscribe_selected_events(
    fake: FakeTexter, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["subscribe", "--url", URL, "--event", "chatAssigned", "--event", "newMessage"]
    assert await asyncio.to_thread(main, args) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in out] == ["chatAssigned", "newMessage"]
    assert len(fake.state.scenarios) == 2


@pytest.mark.usefixtures("texter_env")
async def test_subscribe_reports_texter_errors(
    fake: FakeTexter, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEXTER_API_TOKEN", "not-the-token")
    assert await asyncio.to_thread(main, ["subscriptions", "list"]) == 1
    err = capsys.readouterr().err
    assert "HTTP 401" in err
    assert "not-the-token" not in err


async def test_subscribe_without_texter_settings_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("TEXTER_BASE_URL", "TEXTER_PROJECT", "TEXTER_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert await asyncio.to_thread(main, ["subscribe", "--url", URL]) == 2
    assert "TEXTER_API_TOKEN: not set" in capsys.readouterr().err
