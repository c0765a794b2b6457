"""Template opt-outs per account, through the client against the fake (real HTTP).

The reference: `accountId` on unsubscribe/subscribe is optional, "omitted → all WhatsApp
channels"; the list has an all-accounts and a per-account form; a template send to a phone that
opted out is skipped with `success: false`. The seed has one business account (ACCOUNT) with
`order_ready`; OTHER is a second account given the same template here. Avi opted out of every
account in the seed; Yossi has not opted out.
"""

from __future__ import annotations

import copy

import pytest

from simulator.server import FakeTexter
from worker.errors import TexterRejected
from worker.texter import TexterClient
from worker.texter.requests import SendTemplate

ACCOUNT = "972509876543"
OTHER = "972500000002"
YOSSI = "972547654321"
AVI = "972531112233"


@pytest.fixture(autouse=True)
def second_account(fake: FakeTexter) -> None:
    template = copy.deepcopy(fake.state.templates[(ACCOUNT, "order_ready")])
    template["_id"] = fake.state.new_id()
    template["channelInfo"]["accountId"] = OTHER
    fake.state.templates[(OTHER, "order_ready")] = template
    fake.state.accounts.append(OTHER)


def order_ready(to: str, sender: str) -> SendTemplate:
    return SendTemplate(template_name="order_ready", to=to, from_=sender, body=["A", "1"])


async def phones(client: TexterClient, account: str | None = None) -> list[str]:
    return [u.phone for u in await client.list_unsubscribed(account)]


async def test_an_account_opt_out_blocks_only_that_accounts_templates(
    client: TexterClient, fake: FakeTexter
) -> None:
    await client.unsubscribe_from_templates(YOSSI, account_id=ACCOUNT)
    assert fake.calls[-1].body == {"phone": YOSSI, "accountId": ACCOUNT}
    with pytest.raises(TexterRejected):
        await client.send_template(order_ready(YOSSI, ACCOUNT))
    sent = await client.send_template(order_ready(YOSSI, OTHER))
    assert sent.success is True
    chat = fake.state.chat_by_phone(YOSSI, OTHER)
    assert chat is not None  # the send from OTHER opened a chat with that account
    assert fake.state.messages[chat.id][-1]["_id"] == sent.message_id


async def test_lists_filter_by_account(client: TexterClient) -> None:
    await client.unsubscribe_from_templates(YOSSI, account_id=ACCOUNT)
    assert await phones(client) == [f"+{AVI}", f"+{YOSSI}"]
    assert await phones(client, ACCOUNT) == [f"+{AVI}", f"+{YOSSI}"]
    assert await phones(client, OTHER) == [f"+{AVI}"]  # Avi's opt-out covers every account


async def test_a_phone_is_listed_once_however_many_opt_outs_it_has(client: TexterClient) -> None:
    await client.unsubscribe_from_templates(YOSSI, account_id=ACCOUNT)
    await client.unsubscribe_from_templates(YOSSI, account_id=OTHER)
    await client.unsubscribe_from_templates(YOSSI)
    assert await phones(client) == [f"+{AVI}", f"+{YOSSI}"]
    assert await phones(client, OTHER) == [f"+{AVI}", f"+{YOSSI}"]


async def test_an_account_opt_in_keeps_the_global_opt_out(client: TexterClient) -> None:
    await client.resubscribe_to_templates(AVI, account_id=ACCOUNT)
    assert await phones(client) == [f"+{AVI}"]
    assert await phones(client, ACCOUNT) == [f"+{AVI}"]
    with pytest.raises(TexterRejected):
        await client.send_template(order_ready(AVI, ACCOUNT))
    await client.resubscribe_to_templates(AVI)  # every account
    assert await phones(client) == []
    assert (await client.send_template(order_ready(AVI, ACCOUNT))).success is True


async def test_an_opt_in_without_account_lifts_every_opt_out(client: TexterClient) -> None:
    await client.unsubscribe_from_templates(YOSSI, account_id=ACCOUNT)
    await client.unsubscribe_from_templates(YOSSI, account_id=OTHER)
    await client.resubscribe_to_templates(YOSSI, account_id=OTHER)
    assert await phones(client, OTHER) == [f"+{AVI}"]
    assert await phones(client, ACCOUNT) == [f"+{AVI}", f"+{YOSSI}"]
    await client.resubscribe_to_templates(YOSSI)
    assert await phones(client) == [f"+{AVI}"]
    for sender in (ACCOUNT, OTHER):
        assert (await client.send_template(order_ready(YOSSI, sender))).success is True
