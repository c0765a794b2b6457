"""Every client method against the running fake Texter, over real HTTP on loopback."""

from __future__ import annotations

import pytest

from simulator.server import FakeTexter
from simulator.state import PENDING, RESOLVED
from worker.texter import TexterClient
from worker.texter.endpoints import ALL
from worker.texter.requests import (
    AssignChat,
    CreateTemplate,
    Localization,
    SendMessage,
    SendTemplate,
    UpdateChat,
    UpdateTemplate,
)

ACCOUNT = "972509876543"


async def chat_id(client: TexterClient, name: str) -> str:
    page = await client.search_chats(name)
    assert page.total == 1
    return page.data[0].id


async def test_search_chats_filters(client: TexterClient, fake: FakeTexter) -> None:
    everyone = await client.search_chats()
    assert everyone.total == 3
    assert everyone.data[0].title == "Yossi Levi"  # newest message first
    by_phone = await client.search_chats("0547654321")
    assert [c.client_phone for c in by_phone.data] == ["+972547654321"]
    vip = await client.search_chats(labels=["VIP"], statuses=["ASSIGNED"])
    assert [c.title for c in vip.data] == ["Dana Cohen"]
    page = await client.search_chats(limit=1, skip=1)
    assert (page.total, len(page.data)) == (3, 1)
    query = fake.calls_to("GET", "/chats/search")[-1].query
    assert query == {"limit": ["1"], "skip": ["1"]}


async def test_get_chat_is_the_public_view(client: TexterClient) -> None:
    view = await client.get_chat(await chat_id(client, "Yossi"))
    assert view.title == "Yossi Levi"
    assert view.channel_info.id == "972547654321"
    assert view.external_bot is False


async def test_assign_chat_sets_pending(client: TexterClient, fake: FakeTexter) -> None:
    cid = await chat_id(client, "Yossi")
    await client.assign_chat(AssignChat(chat_id=cid, agent_email="tyler@example.com"))
    chat = fake.state.chats[cid]
    assert (chat.status, chat.agent and chat.agent.display_name) == (PENDING, "Tyler")
    await client.assign_chat(AssignChat(phone="0547654321", department_id="sales"))
    assert chat.department_id == "sales"
    assert fake.calls_to("POST", "/chats/assign")[-1].body == {
        "phone": "0547654321",
        "departmentId": "sales",
    }


async def test_resolve_chat(client: TexterClient, fake: FakeTexter) -> None:
    cid = await chat_id(client, "Yossi")
    await client.resolve_chat(cid)
    assert fake.state.chats[cid].status == RESOLVED
    await client.resolve_chat(cid, notify_client=True)
    assert fake.calls_to("POST", "/resolve")[-1].body == {"notifyClient": True}
    assert fake.state.messages[cid][-1]["direction"] == "outgoing"


async def test_update_chat_overwrites(client: TexterClient) -> None:
    cid = await chat_id(client, "Yossi")
    chat = await client.update_chat(
        cid, UpdateChat(display_name="Yossi (order 15033)", crm_data={"a": 1})
    )
    assert (chat.display_name, chat.crm_data) == ("Yossi (order 15033)", {"a": 1})
    chat = await client.update_chat(cid, UpdateChat(crm_data={"b": 2}, external_bot=True))
    assert (chat.crm_data, chat.external_bot) == ({"b": 2}, True)


async def test_update_crm_data_merges(client: TexterClient) -> None:
    cid = await chat_id(client, "Yossi")
    await client.update_crm_data(cid, {"customer": {"first": "Yossi"}, "plan": "basic"})
    chat = await client.update_crm_data(cid, {"customer": {"last": "Levi"}, "plan": "premium"})
    assert chat.success is True
    assert chat.crm_data == {"customer": {"first": "Yossi", "last": "Levi"}, "plan": "premium"}


async def test_manage_chat_labels(client: TexterClient, fake: FakeTexter) -> None:
    cid = await chat_id(client, "Yossi")
    await client.manage_chat_labels(cid, add=["VIP", "hot_lead"])
    await client.manage_chat_labels(cid, remove=["VIP"])
    assert fake.state.chats[cid].labels == ["hot_lead"]
    await client.manage_chat_labels(cid, replace=[])
    assert fake.state.chats[cid].labels == []
    assert fake.calls_to("POST", "/labels")[-1].body == {"set": []}


async def test_share_file(client: TexterClient) -> None:
    shared = await client.share_file("6908fc09962e17ab3033fa13", ttl=86400)
    assert shared.url.endswith(f"/server/files/shared/6908fc09962e17ab3033fa13/{shared.token}")


async def test_labels_catalogue(client: TexterClient) -> None:
    created = await client.create_label("important", "Important!", "#a83236")
    assert created.color == "#a83236"
    assert (await client.get_label("important")).name == "Important!"
    await client.update_label("important", name="Very important")
    assert (await client.get_label("important")).name == "Very important"
    page = await client.list_labels(limit=2)
    assert (page.total, len(page.labels)) == (5, 2)
    await client.delete_label("important")
    assert "important" not in [label.id for label in (await client.list_labels()).labels]


async def test_template_lifecycle(client: TexterClient) -> None:
    template = await client.create_template(
        ACCOUNT,
        CreateTemplate(title="Example", category="MARKETING", chat_status=1, usage="inbox"),
    )
    name = template.name
    assert name
    body = [{"type": "BODY", "text": "How can we help?"}]
    localized = await client.put_template_localization(
        ACCOUNT, name, Localization(language="en", components=body)
    )
    assert "en" in localized.localization_drafts
    submitted = await client.submit_template(ACCOUNT, name, "en")
    assert submitted.provider_template["localizations"][0]["status"] == "REQUESTED"
    updated = await client.update_template(ACCOUNT, name, UpdateTemplate(title="Renamed"))
    assert updated.title == "Renamed"
    approved = {t.name for t in await client.list_templates()}
    everything = {t.name for t in await client.list_templates(account_id=ACCOUNT, include_all=True)}
    assert name not in approved
    assert name in everything
    await client.delete_template(ACCOUNT, name)
    assert name not in {t.name for t in await client.list_templates(include_all=True)}


async def test_send_template(client: TexterClient, fake: FakeTexter) -> None:
    sent = await client.send_template(
        SendTemplate(template_name="order_ready", to="972547654321", body=["Yossi", "15033"])
    )
    assert sent.success is True
    assert sent.text == "Hi Yossi, order 15033 is ready for pickup"
    cid = fake.state.chat_by_phone("972547654321")
    assert cid is not None
    assert fake.state.messages[cid.id][-1]["_id"] == sent.message_id


async def test_template_opt_outs(client: TexterClient) -> None:
    await client.unsubscribe_from_templates("0547654321")
    phones = [u.phone for u in await client.list_unsubscribed()]
    assert phones == ["+972531112233", "+972547654321"]  # oldest opt-out first
    assert len(await client.list_unsubscribed(ACCOUNT, limit=1)) == 1
    await client.resubscribe_to_templates("972547654321")
    assert [u.phone for u in await client.list_unsubscribed()] == ["+972531112233"]


async def test_get_messages_and_send(client: TexterClient) -> None:
    cid = await chat_id(client, "Yossi")
    view = await client.get_chat(cid)
    assert view.bot_state is not None
    sent = await client.send_message(cid, SendMessage(type="text", text="Ready!"))
    assert sent.messages[0].direction == "outgoing"
    sent = await client.send_text(cid, "See you")
    page = await client.get_messages(cid, bot_session_id=view.bot_state["id"])
    assert [m.text for m in page.messages][-2:] == ["Ready!", "See you"]
    last = sent.messages[0]
    assert last.timestamp is not None
    before = await client.get_messages(cid, before_time=last.timestamp, before_id=last.id, limit=1)
    assert [m.text for m in before.messages] == ["Ready!"]


async def test_quick_replies(client: TexterClient) -> None:
    send = {
        "contents": [{"type": "text", "text": "An agent will reply shortly."}],
        "target": [{"name": "whatsapp", "accountId": ACCOUNT, "id": "chat1"}],
    }
    created = await client.create_quick_reply(send, {"position": "top", "title": "Greeting"})
    updated = await client.update_quick_reply(
        created.id, [{"updateClientMetadata": {"aiQuickReply": True}}]
    )
    assert updated.metadata["client"] == {"aiQuickReply": True}
    page = await client.list_quick_replies(for_chat=("whatsapp", ACCOUNT, "chat1"), position="top")
    assert [q.id for q in page.quick_replies] == [created.id]
    await client.delete_quick_reply(created.id)
    assert (await client.list_quick_replies()).total == 0


async def test_subscriptions(client: TexterClient) -> None:
    data = {"version": "v1", "name": "(SUB) Test", "triggerEvents": ["domain.chat.resolved"]}
    scenario = await client.import_subscription(data)
    assert (scenario.name, scenario.status) == ("(SUB) Test", "active")
    draft = await client.import_subscription({**data, "name": "(SUB) Draft"}, as_status="draft")
    assert draft.status == "draft"
    copy = await client.copy_scenario(scenario.id, from_version=1, new_name="(SUB) Copy")
    assert copy.name == "(SUB) Copy"
    listed = await client.list_subscriptions()
    assert listed.total == 3
    assert {s.id for s in listed.scenarios} == {scenario.id, draft.id, copy.id}


@pytest.mark.parametrize("method", ["delete_label", "delete_quick_reply"])
def test_inferred_endpoints_say_so(method: str) -> None:
    doc = getattr(TexterClient, method).__doc__ or ""
    assert "UNVERIFIED" in doc


def test_only_the_inferred_paths_are_unverified() -> None:
    assert {e.name for e in ALL if not e.verified} == {"delete_label", "delete_quick_reply"}
    assert {e.name for e in ALL if e.send} == {"send_message", "send_template", "resolve_chat"}
    assert all(e.name.isidentifier() and e.name.islower() for e in ALL)  # metric label values
