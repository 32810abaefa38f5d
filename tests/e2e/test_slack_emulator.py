"""The Slack emulator answers slack_sdk like Slack does, and the driver signs like Slack does.

The emulator is exercised only through real HTTP clients (slack_sdk's AsyncWebClient and
AsyncWebhookClient); the driver's requests are checked by a receiver that verifies them
with slack_sdk's SignatureVerifier, as Bolt does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.slack_emulator import (
    Channel,
    LoopbackServer,
    SlackDriver,
    SlackEmulator,
    User,
    check_blocks,
    check_view,
)

TOKEN = "xoxb-emulator"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
JSONDict = dict[str, Any]


def section(text: str, block_id: str | None = None) -> JSONDict:
    block: JSONDict = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def button(text: str, action_id: str, value: str = "v") -> JSONDict:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }


def step_blocks() -> list[JSONDict]:
    return [
        section("*docs* is ready", "step"),
        {
            "type": "actions",
            "block_id": "buttons",
            "elements": [button("Start", "step.start", "run-1/docs"), button("Done", "step.done")],
        },
    ]


def modal(*, title: str = "New workflow", external_id: str | None = None) -> JSONDict:
    view: JSONDict = {
        "type": "modal",
        "callback_id": "builder",
        "private_metadata": '{"v": 1}',
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "name",
                "label": {"type": "plain_text", "text": "Name"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "channel",
                "label": {"type": "plain_text", "text": "Channel"},
                "element": {"type": "conversations_select", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "kind",
                "label": {"type": "plain_text", "text": "Kind"},
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": [
                        {"text": {"type": "plain_text", "text": "Task"}, "value": "task"},
                        {"text": {"type": "plain_text", "text": "Approval"}, "value": "approval"},
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "owner",
                "optional": True,
                "label": {"type": "plain_text", "text": "Owner"},
                "element": {"type": "users_select", "action_id": "value"},
            },
        ],
    }
    if external_id:
        view["external_id"] = external_id
    return view


@pytest.fixture
async def emu() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator.default() as emulator:
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=emu.api_url)


# --- Web API -----------------------------------------------------------------------------------


async def test_post_update_and_thread_are_recorded(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="C0GENERAL", text="Run started")
    second = await client.chat_postMessage(channel="#general", text="second", blocks=step_blocks())
    assert first["channel"] == second["channel"] == "C0GENERAL"
    assert float(first["ts"]) < float(second["ts"])
    assert first["message"]["user"] == "UBATON"

    updated = await client.chat_update(channel="C0GENERAL", ts=first["ts"], text="Run finished")
    assert updated["text"] == "Run finished"
    reply = await client.chat_postMessage(
        channel="C0GENERAL", thread_ts=first["ts"], text="docs done"
    )
    nested = await client.chat_postMessage(channel="C0GENERAL", thread_ts=reply["ts"], text="more")

    card, step = emu.messages("C0GENERAL")
    assert card.text == "Run finished"
    assert [edit.text for edit in card.edits] == ["Run started"]
    assert [b.action_id for b in step.buttons] == ["step.start", "step.done"]
    assert [m.ts for m in emu.thread("C0GENERAL", first["ts"])] == [reply["ts"], nested["ts"]]
    assert nested["message"]["thread_ts"] == first["ts"]

    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel="C0GENERAL", ts="1.000001", text="x")
    assert missing.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as unknown:
        await client.chat_postMessage(channel="C0NOPE", text="x")
    assert unknown.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as empty, pytest.warns(UserWarning, match="text"):
        await client.chat_postMessage(channel="C0GENERAL")
    assert empty.value.response["error"] == "no_text"


async def test_posting_to_a_user_lands_in_their_dm(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    opened = await client.conversations_open(users="U0ALICE")
    again = await client.conversations_open(users="U0ALICE")
    assert opened["channel"]["id"] == again["channel"]["id"] == "D0ALICE"
    assert again["already_open"] is True

    posted = await client.chat_postMessage(channel="U0ALICE", text="Your step is ready")
    await client.chat_postMessage(channel="D0ALICE", text="Reminder")
    assert posted["channel"] == "D0ALICE"
    assert [m.text for m in emu.dm("U0ALICE")] == ["Your step is ready", "Reminder"]
    assert emu.dm("U0BOB") == []


async def test_conversations_members_pages_with_cursors(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    everyone = await client.conversations_members(channel="C0OPS")
    assert everyone["members"] == ["U0BOB", "U0CAROL", "U0DAVE"]
    assert everyone["response_metadata"] == {"next_cursor": ""}

    pages, cursor = [], None
    while True:
        page = await client.conversations_members(channel="C0GENERAL", limit=3, cursor=cursor)
        pages.append(page["members"])
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
        assert isinstance(cursor, str) and "U0" not in cursor  # opaque, as Slack's are
    assert pages == [["U0ALICE", "U0BOB", "U0CAROL"], ["U0DAVE"]]

    for arguments, error in (
        ({"channel": "C0NOWHERE"}, "channel_not_found"),
        ({"channel": "C0OPS", "cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"channel": "C0OPS", "limit": 1000}, "invalid_limit"),
    ):
        with pytest.raises(SlackApiError) as refused:
            await client.conversations_members(**arguments)
        assert refused.value.response["error"] == error, arguments

    # A private channel does not exist for a bot that is not in it, until it is invited.
    ws = emu.workspace()
    ws.add_channel(Channel("C0LEADS", "leads", members=("U0ALICE",), is_private=True))
    with pytest.raises(SlackApiError) as unseen:
        await client.conversations_members(channel="C0LEADS")
    with pytest.raises(SlackApiError) as unposted:
        await client.chat_postMessage(channel="C0LEADS", text="x")
    assert unseen.value.response["error"] == unposted.value.response["error"] == "channel_not_found"
    ws.add_channel(Channel("C0LEADS", "leads", members=("U0ALICE", "UBATON"), is_private=True))
    assert (await client.conversations_members(channel="C0LEADS"))["members"] == [
        "U0ALICE",
        "UBATON",
    ]
    assert (await client.conversations_info(channel="C0LEADS"))["channel"]["is_private"] is True


async def test_ephemeral_messages_are_kept_per_user(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    answer = await client.chat_postEphemeral(channel="C0OPS", user="U0BOB", text="Only you")
    assert answer["message_ts"]
    assert [m.text for m in emu.ephemerals("U0BOB")] == ["Only you"]
    assert emu.ephemerals("U0BOB", channel="C0GENERAL") == []
    assert emu.ephemerals("U0CAROL") == []
    assert emu.messages("C0OPS") == []
    with pytest.raises(SlackApiError) as unknown:
        await client.chat_postEphemeral(channel="C0OPS", user="U0NOBODY", text="x")
    assert unknown.value.response["error"] == "user_not_found"


async def test_users_info_gives_zone_and_offset_for_now() -> None:
    winter = dt.datetime(2024, 1, 15, 12, tzinfo=dt.UTC).timestamp()
    async with SlackEmulator.default(clock=lambda: winter) as emu:
        client = AsyncWebClient(token=TOKEN, base_url=emu.api_url)
        alice = (await client.users_info(user="U0ALICE"))["user"]
        bob = (await client.users_info(user="U0BOB"))["user"]
        dave = (await client.users_info(user="U0DAVE"))["user"]
        group = await client.usergroups_users_list(usergroup="S0ITTEAM")
        with pytest.raises(SlackApiError) as unknown:
            await client.users_info(user="U0NOBODY")
    assert (alice["name"], alice["tz"], alice["tz_offset"]) == ("alice", "Europe/Berlin", 3600)
    assert alice["tz_label"] == "Central European Time"
    assert alice["profile"]["real_name"] == "Alice Archer"
    assert bob["tz_offset"] == -5 * 3600
    assert (dave["is_admin"], alice["is_admin"], alice["is_bot"]) == (True, False, False)
    assert group["users"] == ["U0BOB", "U0CAROL"]
    assert unknown.value.response["error"] == "user_not_found"


async def test_summer_time_changes_the_offset() -> None:
    summer = dt.datetime(2024, 7, 15, 12, tzinfo=dt.UTC).timestamp()
    async with SlackEmulator.default(clock=lambda: summer) as emu:
        client = AsyncWebClient(token=TOKEN, base_url=emu.api_url)
        alice = (await client.users_info(user="U0ALICE"))["user"]
    assert (alice["tz_offset"], alice["tz_label"]) == (7200, "Central European Summer Time")


async def test_views_open_needs_a_trigger_the_driver_issued(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as forged:
        await client.views_open(trigger_id="123.456.abc", view=modal())
    assert forged.value.response["error"] == "invalid_trigger_id"

    trigger = emu.issue_trigger("alice")
    opened = (await client.views_open(trigger_id=trigger, view=modal(external_id="b-1")))["view"]
    assert opened["id"].startswith("V")
    assert (opened["callback_id"], opened["private_metadata"]) == ("builder", '{"v": 1}')
    assert emu.open_view("U0ALICE") is not None
    assert emu.open_view("U0BOB") is None
    with pytest.raises(SlackApiError) as reused:
        await client.views_open(trigger_id=trigger, view=modal())
    assert reused.value.response["error"] == "exchanged_trigger_id"

    by_id = await client.views_update(view_id=opened["id"], view=modal(title="Edit"))
    by_external = await client.views_update(external_id="b-1", view=modal(title="Edit again"))
    assert by_id["view"]["hash"] != opened["hash"]
    view = emu.open_view("alice")
    assert view is not None
    assert view.title == "Edit again"
    assert by_external["view"]["id"] == opened["id"]
    with pytest.raises(SlackApiError) as stale:
        await client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())
    assert stale.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as missing:
        await client.views_update(view_id="V0NOPE", view=modal())
    assert missing.value.response["error"] == "not_found"


async def test_views_publish_sets_the_home_tab(emu: SlackEmulator, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [section("Your open steps")]}
    first = await client.views_publish(user_id="U0CAROL", view=home)
    home["blocks"] = [section("Nothing open")]
    second = await client.views_publish(user_id="U0CAROL", view=home)
    assert first["view"]["id"] == second["view"]["id"]
    carol = emu.home("U0CAROL")
    assert carol is not None
    assert carol.render() == "Nothing open"
    assert emu.home("U0ALICE") is None
    with pytest.raises(SlackApiError) as wrong:
        await client.views_publish(user_id="U0CAROL", view=modal())
    assert wrong.value.response["error"] == "invalid_arguments"


async def test_fifty_one_blocks_are_refused(emu: SlackEmulator, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C0OPS", text="t", blocks=[{"type": "divider"}] * 50)
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C0OPS", text="t", blocks=[{"type": "divider"}] * 51)
    assert refused.value.response["error"] == "invalid_blocks"
    assert any("/blocks" in error for error in refused.value.response["errors"])
    assert len(emu.messages("C0OPS")) == 1


async def test_a_3001_character_section_is_refused(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel="C0OPS", text="t", blocks=[section("x" * 3000)])
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C0OPS", text="t", blocks=[section("x" * 3001)])
    assert refused.value.response["error"] == "invalid_blocks"
    assert refused.value.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    first = emu.messages("C0OPS")[0]
    with pytest.raises(SlackApiError) as update:
        await client.chat_update(
            channel="C0OPS", ts=first.ts, text="t", blocks=[section("x" * 3001)]
        )
    assert update.value.response["error"] == "invalid_blocks"
    assert first.edits == []


async def test_a_too_long_modal_title_is_refused(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as refused:
        await client.views_open(trigger_id=emu.issue_trigger("alice"), view=modal(title="x" * 25))
    assert refused.value.response["error"] == "invalid_arguments"
    assert emu.open_view("alice") is None


def test_block_kit_limits() -> None:
    assert check_blocks(step_blocks()) == []
    assert check_blocks([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}])
    assert check_blocks([{"type": "carousel"}]) == [
        "unsupported block type `carousel` [json-pointer:/blocks/0/type]"
    ]
    long_label = [{"type": "actions", "elements": [button("b" * 76, "a")]}]
    assert check_blocks(long_label) == [
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
    ]
    assert check_blocks([{"type": "actions", "elements": [button("b", "a", "v" * 2001)]}])
    many = [button("b", f"a{i}") for i in range(26)]
    assert check_blocks([{"type": "actions", "elements": many}])
    assert check_blocks([{"type": "actions", "elements": many[:25]}]) == []
    assert check_blocks([section("a", "same"), section("b", "same")])
    assert check_blocks([section("a", "x" * 256)])
    fields = [{"type": "mrkdwn", "text": "f"}] * 11
    assert check_blocks([{"type": "section", "fields": fields}])
    context = [{"type": "mrkdwn", "text": "c"}] * 11
    assert check_blocks([{"type": "context", "elements": context}])
    assert check_view({**modal(), "private_metadata": "m" * 3001})
    assert check_view({**modal(), "submit": None})  # input blocks need a submit button
    assert check_view({**modal(), "blocks": [{"type": "divider"}] * 101})
    assert check_view({"type": "home", "blocks": [{"type": "divider"}] * 100}) == []


async def test_rate_limit_answers_429_with_retry_after(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.fail("chat.postMessage", status=429, retry_after=1, times=1)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C0GENERAL", text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "1"
    assert limited.value.response["error"] == "ratelimited"
    assert emu.messages("C0GENERAL") == []


async def test_slack_sdk_retry_handler_honours_retry_after(emu: SlackEmulator) -> None:
    client = AsyncWebClient(
        token=TOKEN,
        base_url=emu.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    emu.fail("chat.postMessage", status=429, retry_after=1, times=1)
    await client.chat_postMessage(channel="C0GENERAL", text="after the wait")
    limited, accepted = emu.calls_to("chat.postMessage")
    assert (limited.status, accepted.status) == (429, 200)
    assert accepted.monotonic - limited.monotonic >= 1
    assert [m.text for m in emu.messages("C0GENERAL")] == ["after the wait"]


async def test_server_errors_and_slack_errors_can_be_injected(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.fail("chat.postMessage", status=500, times=2)
    emu.fail("users.info", error="user_not_found", match={"user": "U0BOB"})
    for _ in range(2):
        with pytest.raises(SlackApiError) as failed:
            await client.chat_postMessage(channel="C0GENERAL", text="x")
        assert failed.value.response.status_code == 500
    await client.chat_postMessage(channel="C0GENERAL", text="third time")
    assert [m.text for m in emu.messages("C0GENERAL")] == ["third time"]

    await client.users_info(user="U0ALICE")
    with pytest.raises(SlackApiError) as injected:
        await client.users_info(user="U0BOB")
    assert injected.value.response.status_code == 200
    assert injected.value.response["error"] == "user_not_found"
    await client.users_info(user="U0BOB")


async def test_slow_answers_are_still_carried_out(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.delay("chat.postMessage", 0.5, times=1)
    async with httpx.AsyncClient(timeout=0.1) as impatient:
        with pytest.raises(httpx.TimeoutException):
            await impatient.post(
                emu.api_url + "chat.postMessage",
                json={"channel": "C0GENERAL", "text": "slow"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
    posted = await emu.wait_for(lambda: emu.messages("C0GENERAL"))
    assert [m.text for m in posted] == ["slow"]


async def test_tokens_are_checked_and_workspaces_kept_apart(emu: SlackEmulator) -> None:
    stranger = AsyncWebClient(token="xoxb-someone-else", base_url=emu.api_url)
    with pytest.raises(SlackApiError) as refused:
        await stranger.auth_test()
    assert refused.value.response["error"] == "invalid_auth"

    emu.add_workspace(
        "T0OTHER",
        "xoxb-other",
        users=[User("U0ZED", "zed", tz="UTC")],
        channels=[Channel("C0OTHER", "other")],
    )
    other = AsyncWebClient(token="xoxb-other", base_url=emu.api_url)
    assert (await other.auth_test())["team_id"] == "T0OTHER"
    with pytest.raises(SlackApiError) as foreign:
        await other.chat_postMessage(channel="C0GENERAL", text="x")
    assert foreign.value.response["error"] == "channel_not_found"
    await other.chat_postMessage(channel="C0OTHER", text="hello")
    assert emu.messages("C0OTHER", team_id="T0OTHER")[0].team_id == "T0OTHER"
    assert emu.messages("C0GENERAL") == []
    assert emu.calls_to("chat.postMessage", team_id="T0OTHER")[-1].ok


async def test_form_encoded_calls_with_the_token_field(emu: SlackEmulator) -> None:
    blocks = json.dumps([section("from a form")])
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            emu.api_url + "chat.postMessage",
            data={"token": TOKEN, "channel": "C0GENERAL", "blocks": blocks},
        )
        unknown = await http.post(emu.api_url + "chat.fly", data={"token": TOKEN})
        anonymous = await http.post(emu.api_url + "auth.test")
    assert answer.json()["ok"] is True
    call = emu.calls_to("chat.postMessage")[0]
    assert call.params["blocks"][0]["text"]["text"] == "from a form"
    assert "token" not in call.params
    assert unknown.json() == {"ok": False, "error": "unknown_method"}
    assert anonymous.json() == {"ok": False, "error": "not_authed"}


async def test_response_urls_post_ephemeral_in_channel_replace_and_delete(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    command_url = emu.new_response_url("C0OPS", "bob")
    hook = AsyncWebhookClient(command_url)
    assert (await hook.send(text="only for bob")).status_code == 200
    await hook.send(text="for everyone", response_type="in_channel")
    assert [m.text for m in emu.ephemerals("bob", channel="C0OPS")] == ["only for bob"]
    assert [m.text for m in emu.messages("C0OPS")] == ["for everyone"]

    posted = await client.chat_postMessage(channel="U0BOB", text="step", blocks=step_blocks())
    button_url = emu.new_response_url("D0BOB", "bob", message_ts=posted["ts"])
    replaced = await AsyncWebhookClient(button_url).send(text="Done by bob", replace_original=True)
    assert replaced.status_code == 200
    (step,) = emu.dm("bob")
    assert (step.text, step.blocks, len(step.edits)) == ("Done by bob", [], 1)
    await AsyncWebhookClient(button_url).send(delete_original=True)
    assert emu.dm("bob") == []

    too_big = await hook.send(text="x", blocks=[{"type": "divider"}] * 51)
    assert too_big.status_code == 400
    assert json.loads(too_big.body)["error"] == "invalid_blocks"
    assert [c.status for c in emu.calls_to("response_url")] == [200, 200, 200, 200, 400]
    for _ in range(2):
        await hook.send(text="again")
    assert (await hook.send(text="sixth")).status_code == 404  # five uses, like Slack


async def test_wait_for_wakes_on_calls_and_times_out(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    async def post_later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="C0OPS", text="late")

    task = asyncio.create_task(post_later())
    messages = await emu.wait_for(lambda: emu.messages("C0OPS"), timeout=5)
    await task
    assert messages[0].text == "late"
    call = await emu.wait_for_call("chat.postMessage")
    assert call.params["text"] == "late"
    with pytest.raises(TimeoutError, match=r"chat\.postMessage:ok"):
        await emu.wait_for(lambda: emu.messages("C0GENERAL"), timeout=0.1)


async def test_pacing_is_recorded_and_can_be_enforced(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel="C0OPS", text="1")
    await client.chat_postMessage(channel="C0OPS", text="2")
    await client.chat_postMessage(channel="C0GENERAL", text="3")
    assert len(emu.post_times("#ops")) == 2
    (violation,) = emu.pacing_violations(min_interval=1.0)
    assert violation.channel == "C0OPS"

    emu.enforce_pacing(1.0)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C0OPS", text="4")
    assert limited.value.response.status_code == 429
    await client.chat_postMessage(channel="C0ONBOARD", text="other channels are free")


# --- the driver --------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))

    @property
    def payload(self) -> JSONDict:
        payload: JSONDict = json.loads(self.form["payload"])
        return payload

    @property
    def json(self) -> JSONDict:
        body: JSONDict = json.loads(self.body)
        return body


@dataclass
class Receiver:
    """A stand-in for Baton's /slack/events: verifies like Bolt, records, answers."""

    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Awaitable[Response]] | None = None

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if not SignatureVerifier(SECRET).is_valid_request(body, dict(request.headers)):
            return PlainTextResponse("invalid signature", status_code=401)
        got = Received(dict(request.headers), body)
        self.received.append(got)
        return await self.answer(got) if self.answer else Response(status_code=200)


def receiving(receiver: Receiver) -> LoopbackServer:
    return LoopbackServer(
        Starlette(routes=[Route("/slack/events", receiver.handle, methods=["POST"])])
    )


@pytest.fixture
async def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def driver(emu: SlackEmulator, receiver: Receiver) -> AsyncIterator[SlackDriver]:
    async with receiving(receiver) as baton, SlackDriver(baton.url, SECRET, emu) as slack:
        yield slack


async def test_command_arrives_signed_with_slacks_fields(
    emu: SlackEmulator, driver: SlackDriver, receiver: Receiver
) -> None:
    response = await driver.command("run onboarding hire=Zoe", user="alice", channel="#onboarding")
    assert response.status_code == 200
    (got,) = receiver.received
    form = got.form
    assert list(form) == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    assert (form["team_id"], form["channel_id"], form["channel_name"]) == (
        "T0BATON",
        "C0ONBOARD",
        "onboarding",
    )
    assert (form["user_id"], form["user_name"], form["command"]) == ("U0ALICE", "alice", "/baton")
    assert form["text"] == "run onboarding hire=Zoe"
    assert form["response_url"].startswith(emu.url + "/respond/")
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"

    # The trigger really opens a modal, once.
    client = AsyncWebClient(token=TOKEN, base_url=emu.api_url)
    await client.views_open(trigger_id=form["trigger_id"], view=modal())
    assert emu.open_view("alice") is not None

    await driver.command("help", user="bob")
    assert receiver.received[1].form["channel_name"] == "directmessage"


async def test_command_acknowledgement_is_shown_like_slack(
    emu: SlackEmulator, driver: SlackDriver, receiver: Receiver
) -> None:
    async def answer(got: Received) -> Response:
        if got.form["text"] == "loud":
            return JSONResponse({"response_type": "in_channel", "text": "Run started"})
        return PlainTextResponse("Usage: /baton run <name>")

    receiver.answer = answer
    await driver.command("oops", user="carol", channel="C0OPS")
    await driver.command("loud", user="carol", channel="C0OPS")
    assert [m.text for m in emu.ephemerals("carol", channel="C0OPS")] == [
        "Usage: /baton run <name>"
    ]
    assert [m.text for m in emu.messages("C0OPS")] == ["Run started"]


async def test_stale_or_forged_requests_fail_verification(
    driver: SlackDriver, receiver: Receiver
) -> None:
    driver.now = lambda: time.time() - 10 * 60
    assert (await driver.command("help", user="alice")).status_code == 401
    driver.now = time.time
    driver.break_signature = True
    assert (await driver.command("help", user="alice")).status_code == 401
    driver.break_signature = False
    assert (await driver.command("help", user="alice")).status_code == 200
    assert len(receiver.received) == 1


async def test_click_sends_the_block_actions_payload(
    emu: SlackEmulator, client: AsyncWebClient, driver: SlackDriver, receiver: Receiver
) -> None:
    await client.chat_postMessage(channel="U0ALICE", text="docs ready", blocks=step_blocks())
    (message,) = emu.dm("alice")
    await driver.click(message, text="Start")
    await driver.click(message, action_id="step.done")

    start, done = (got.payload for got in receiver.received)
    assert start["type"] == "block_actions"
    assert start["user"] == {
        "id": "U0ALICE",
        "username": "alice",
        "name": "alice",
        "team_id": "T0BATON",
    }
    assert start["container"] == {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": "D0ALICE",
        "is_ephemeral": False,
    }
    assert start["channel"] == {"id": "D0ALICE", "name": "directmessage"}
    assert start["team"] == {"id": "T0BATON", "domain": "baton"}
    assert start["message"]["ts"] == message.ts
    assert start["message"]["blocks"] == message.blocks
    assert start["api_app_id"] == "A0BATON"
    assert (start["enterprise"], start["is_enterprise_install"]) == (None, False)
    (action,) = start["actions"]
    assert {k: action[k] for k in ("action_id", "block_id", "value", "type")} == {
        "action_id": "step.start",
        "block_id": "buttons",
        "value": "run-1/docs",
        "type": "button",
    }
    assert action["text"]["text"] == "Start"
    assert done["actions"][0]["action_id"] == "step.done"
    assert start["trigger_id"] != done["trigger_id"]

    # The response_url acts on the clicked message, as Slack's does.
    before = message.snapshot()
    await AsyncWebhookClient(start["response_url"]).send(text="Started", replace_original=True)
    assert emu.dm("alice")[0].text == "Started"
    with pytest.raises(LookupError, match="0 elements match"):
        await driver.click(message, text="Done")
    # A screen still showing the old message can click it: Slack sends the stale message.
    await driver.click(before, text="Done")
    assert receiver.received[-1].payload["message"]["blocks"] == before.blocks


async def test_click_on_ephemeral_and_home_tab(
    emu: SlackEmulator, client: AsyncWebClient, driver: SlackDriver, receiver: Receiver
) -> None:
    await client.chat_postEphemeral(channel="C0OPS", user="U0BOB", text="?", blocks=step_blocks())
    await client.views_publish(user_id="U0BOB", view={"type": "home", "blocks": step_blocks()})
    (ephemeral,) = emu.ephemerals("bob")
    home = emu.home("bob")
    assert home is not None
    await driver.click(ephemeral, index=1)
    await driver.click(home, index=0)

    on_ephemeral, on_home = (got.payload for got in receiver.received)
    assert on_ephemeral["container"]["is_ephemeral"] is True
    assert "message" not in on_ephemeral
    assert on_ephemeral["actions"][0]["action_id"] == "step.done"
    assert on_home["container"] == {"type": "view", "view_id": home.id}
    assert on_home["view"]["type"] == "home"
    assert "response_url" not in on_home
    assert on_home["user"]["id"] == "U0BOB"


async def test_submit_view_sends_state_values_in_slacks_shapes(
    emu: SlackEmulator, client: AsyncWebClient, driver: SlackDriver, receiver: Receiver
) -> None:
    async def answer(got: Received) -> Response:
        name = got.payload["view"]["state"]["values"]["name"]["value"]["value"]
        if name == "bad name":
            return JSONResponse({"response_action": "errors", "errors": {"name": "Use a slug"}})
        return Response(status_code=200)

    receiver.answer = answer
    await client.views_open(trigger_id=emu.issue_trigger("dave"), view=modal())
    view = emu.open_view("dave")
    assert view is not None
    refused = await driver.submit_view(view, values={"name": {"value": "bad name"}})
    assert SlackDriver.view_errors(refused) == {"name": "Use a slug"}
    assert view.errors == {"name": "Use a slug"}
    assert emu.open_view("dave") is view

    values = {"name": "onboarding", "channel": "C0ONBOARD", "kind": {"value": "Approval"}}
    accepted = await driver.submit_view(user="dave", values=values)
    assert SlackDriver.view_errors(accepted) is None
    assert emu.open_view("dave") is None  # an empty answer closes the modal

    submitted = receiver.received[-1].payload
    assert submitted["type"] == "view_submission"
    assert submitted["response_urls"] == []
    sent = submitted["view"]
    assert (sent["id"], sent["callback_id"], sent["private_metadata"]) == (
        view.id,
        "builder",
        '{"v": 1}',
    )
    assert sent["hash"] == view.hash
    assert sent["state"]["values"] == {
        "name": {"value": {"type": "plain_text_input", "value": "onboarding"}},
        "channel": {
            "value": {"type": "conversations_select", "selected_conversation": "C0ONBOARD"}
        },
        "kind": {
            "value": {
                "type": "static_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "Approval"},
                    "value": "approval",
                },
            }
        },
        "owner": {"value": {"type": "users_select", "selected_user": None}},
    }
    with pytest.raises(KeyError):
        await driver.submit_view(view, values={"nope": "x"})


async def test_events_url_verification_and_retries(driver: SlackDriver, receiver: Receiver) -> None:
    async def answer(got: Received) -> Response:
        if got.json.get("type") == "url_verification":
            return JSONResponse({"challenge": got.json["challenge"]})
        return Response(status_code=200)

    receiver.answer = answer
    challenge = await driver.url_verification(
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    )
    assert challenge.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}

    await driver.app_home_opened("carol")
    await driver.replay(retry_num=1, retry_reason="http_timeout")
    first, retry = receiver.received[1:]
    assert first.body == retry.body
    assert "x-slack-retry-num" not in first.headers
    assert (retry.headers["x-slack-retry-num"], retry.headers["x-slack-retry-reason"]) == (
        "1",
        "http_timeout",
    )
    envelope = first.json
    assert envelope["type"] == "event_callback"
    assert envelope["event"]["type"] == "app_home_opened"
    assert envelope["event"]["user"] == "U0CAROL"
    assert envelope["event_id"].startswith("Ev")
    assert envelope["authorizations"][0]["user_id"] == "UBATON"

    await driver.event({"type": "app_mention", "user": "U0BOB", "text": "hi"}, event_id="Ev1")
    await driver.event(
        {"type": "app_mention", "user": "U0BOB", "text": "hi"}, event_id="Ev1", retry_num=2
    )
    assert receiver.received[-1].json["event_id"] == receiver.received[-2].json["event_id"] == "Ev1"
    assert receiver.received[-1].headers["x-slack-retry-num"] == "2"


async def test_a_bolt_app_understands_the_driver_and_the_emulator(emu: SlackEmulator) -> None:
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

    bolt = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token=TOKEN, base_url=emu.api_url),
    )

    @bolt.command("/baton")
    async def command(ack: AsyncAck, body: JSONDict, client: AsyncWebClient) -> None:
        await ack(f"Working on `{body['text']}`")
        await client.chat_postMessage(channel=body["user_id"], text="ready", blocks=step_blocks())
        await client.views_open(trigger_id=body["trigger_id"], view=modal())

    @bolt.action("step.done")
    async def done(ack: AsyncAck, respond: AsyncRespond, body: JSONDict) -> None:
        await ack()
        await respond(text=f"Done by <@{body['user']['id']}>", replace_original=True)

    @bolt.view("builder")
    async def submitted(ack: AsyncAck, view: JSONDict) -> None:
        if view["state"]["values"]["name"]["value"]["value"] != "ok":
            await ack(response_action="errors", errors={"name": "Not ok"})
        else:
            await ack()

    handler = AsyncSlackRequestHandler(bolt)

    async def endpoint(request: Request) -> Response:
        response: Response = await handler.handle(request)
        return response

    app = Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])
    async with LoopbackServer(app) as baton, SlackDriver(baton.url, SECRET, emu) as driver:
        await driver.command("run onboarding", user="alice")
        # Bolt acks first and runs the listener on; wait for what it does next.
        (step,) = await emu.wait_for(lambda: emu.dm("alice"))
        await emu.wait_for(lambda: emu.open_view("alice"))
        assert [m.text for m in emu.ephemerals("alice")] == ["Working on `run onboarding`"]
        await driver.click(step, text="Done")
        await emu.wait_for(lambda: step.text.startswith("Done by"))
        assert step.render() == "Done by <@U0ALICE>"

        refused = await driver.submit_view(user="alice", values={"name": "no"})
        assert SlackDriver.view_errors(refused) == {"name": "Not ok"}
        await driver.submit_view(user="alice", values={"name": "ok"})
        assert emu.open_view("alice") is None
    assert emu.calls_to("auth.test")[0].ok


async def test_people_write_and_pick_through_the_driver(
    emu: SlackEmulator, client: AsyncWebClient, driver: SlackDriver, receiver: Receiver
) -> None:
    await driver.message("hello baton", user="alice")
    (said,) = emu.dm("alice")
    assert (said.user, said.via) == ("U0ALICE", "user")
    event = receiver.received[-1].json["event"]
    assert (event["type"], event["channel"], event["channel_type"]) == ("message", "D0ALICE", "im")
    assert event["ts"] == said.ts

    await client.views_open(trigger_id=emu.issue_trigger("bob"), view=modal())
    view = emu.open_view("bob")
    assert view is not None
    await driver.select(view, "approval", block_id="kind")
    await driver.select(view, "U0CAROL", block_id="owner")
    picked = receiver.received[-2].payload
    assert picked["container"] == {"type": "view", "view_id": view.id}
    assert picked["actions"][0]["type"] == "static_select"
    assert picked["actions"][0]["selected_option"]["value"] == "approval"
    assert receiver.received[-1].payload["actions"][0]["selected_user"] == "U0CAROL"

    await driver.submit_view(view, values={"name": "n", "channel": "C0OPS"})
    values = receiver.received[-1].payload["view"]["state"]["values"]
    assert values["kind"]["value"]["selected_option"]["value"] == "approval"
    assert values["owner"]["value"]["selected_user"] == "U0CAROL"


async def test_changes_feed_what_the_console_shows(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    seen: list[str] = []
    emu.subscribe(lambda change: seen.append(f"{change.kind}:{change.item.render()}"))
    posted = await client.chat_postMessage(channel="C0OPS", text="fallback", blocks=step_blocks())
    await client.chat_postMessage(channel="C0OPS", thread_ts=posted["ts"], text="in thread")
    await client.chat_update(channel="C0OPS", ts=posted["ts"], text="Run done", blocks=[])
    await client.chat_postEphemeral(channel="C0OPS", user="U0BOB", text="psst")
    await client.views_publish(user_id="U0BOB", view={"type": "home", "blocks": [section("Home")]})
    assert seen == [
        "message:*docs* is ready\n[Start] [Done]",
        "reply:in thread",
        "update:Run done",
        "ephemeral:psst",
        "home:Home",
    ]
    assert [c.kind for c in emu.changes()] == ["message", "reply", "update", "ephemeral", "home"]
