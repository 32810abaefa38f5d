"""Hardening of Baton's inputs (issue 14), each over real HTTP on both backends: first
contact races, oversized and malformed requests, requests no listener wants, and user
mistakes that must get their usage rather than a generic error."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import col, func, select

from bot.slack.ids import ActionId
from bot.slack_emulator.driver import signature
from storage.db import unit_of_work
from storage.models import Person, Run
from tests.stack import SIGNING_SECRET, Stack

# -- 1. a person's first requests, all at once ----------------------------------------------------


async def test_a_new_persons_simultaneous_first_commands_are_all_applied(stack: Stack) -> None:
    await stack.command("define solo Solo\ngo: Go <@U0ALICE>", user="U0ALICE")
    # Dave has never spoken to Baton: each of his six commands needs his person row at once.
    responses = await asyncio.gather(
        *(stack.driver.command("run solo", user="U0DAVE", channel="C0GENERAL") for _ in range(6))
    )
    await stack.settle()

    assert [r.status_code for r in responses] == [200] * 6
    replies = [m.text for m in stack.emulator.ephemerals("U0DAVE")]
    assert not [text for text in replies if "went wrong" in text], replies
    started = sorted(text.split("`")[1] for text in replies if text.startswith("Started"))
    assert started == sorted(f"solo-{n}" for n in range(1, 7)), replies
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        runs = (await session.exec(select(func.count()).select_from(Run))).one()
        people = (await session.exec(select(Person).where(col(Person.user_id) == "U0DAVE"))).all()
    assert runs == 6
    assert len(people) == 1 and people[0].tz == "Europe/London"


# -- 2. bodies too large to be Slack's ------------------------------------------------------------


async def raw_request(stack: Stack, head: str, chunks: list[bytes]) -> bytes:
    """Sends a request over a bare socket (the head, then `chunks`), never finishing the body,
    and returns what Baton answers: an answer that waits for the rest times out."""
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.server.port)
    try:
        writer.write(head.encode())
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize("path", ["/slack/events", "/hooks/callback/x", "/slack/oauth_redirect"])
async def test_a_body_declared_over_a_megabyte_is_refused_before_it_is_read(
    stack: Stack, path: str
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: baton\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 300000000\r\n\r\n"
    )
    answer = await raw_request(stack, head, [b"token=x&"])
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


async def test_a_chunked_body_growing_past_a_megabyte_is_refused(stack: Stack) -> None:
    head = (
        "POST /slack/events HTTP/1.1\r\nHost: baton\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"a" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    answer = await raw_request(stack, head, [chunk] * 17)  # 1 MiB and a bit, no end marker
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


async def test_a_body_under_the_cap_is_still_answered(stack: Stack) -> None:
    # A large but plausible command (200 KB of text) reaches Baton and gets its answer.
    await stack.command("define big Big\ngo: " + "x" * 200_000 + " <@U0ALICE>", user="U0ALICE")
    assert stack.emulator.ephemerals("U0ALICE")


# -- 3. junk gets 401 or 400, never 500, and one log line ----------------------------------------

FORM = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
ALICE = {"id": "U0ALICE", "team_id": "T0BATON"}
TEAM = {"id": "T0BATON"}


def form_payload(payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def event_body(event: object, **extra: object) -> bytes:
    body = {"type": "event_callback", "team_id": "T0BATON", "event": event, "event_id": "Ev1"}
    return json.dumps({**body, **extra}).encode()


def nested_actions(depth: int) -> bytes:
    """A block_actions payload whose one action nests objects `depth` deep."""
    action = '{"a":' * depth + "{}" + "}" * depth
    user = json.dumps(ALICE)
    return urlencode(
        {"payload": f'{{"type":"block_actions","user":{user},"actions":[{action}]}}'}
    ).encode()


def signed_headers(body: bytes, content_type: str) -> dict[str, str]:
    timestamp = str(int(time.time()))  # Bolt checks the signature's age against real time
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature(SIGNING_SECRET, timestamp, body),
    }


UNSIGNED: dict[str, tuple[bytes, dict[str, str]]] = {
    "no body, no headers": (b"", {}),
    "garbled form": (b"%%%&&&==\xff\xfe", {"Content-Type": FORM}),
    "invalid JSON, no type": (b"{not json", {}),
    "invalid JSON": (b"{not json", {"Content-Type": JSON_TYPE}),
    "invalid payload JSON": (b"payload=%7Bx", {"Content-Type": FORM}),
    "a JSON array": (b"[1,2]", {"Content-Type": JSON_TYPE}),
    "a timestamp that is no number": (
        b"payload=%7B%7D",
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
    ),
    "a timestamp too big for a float": (
        b"a=b",
        {"X-Slack-Request-Timestamp": "9" * 400, "X-Slack-Signature": "v0=00"},
    ),
}

SIGNED_MALFORMED: dict[str, tuple[bytes, str]] = {
    "not UTF-8": (b"payload=\xff\xfe", FORM),
    "invalid payload JSON": (b"payload=%7Bx", FORM),
    "a payload that is a list": (form_payload([1]), FORM),
    "a payload that is a string": (form_payload("hi"), FORM),
    "block_actions without actions": (form_payload({"type": "block_actions", "user": ALICE}), FORM),
    "actions that are text": (
        form_payload({"type": "block_actions", "actions": "x", "user": ALICE, "team": TEAM}),
        FORM,
    ),
    "an action that is a number": (
        form_payload({"type": "block_actions", "actions": [5], "user": ALICE, "team": TEAM}),
        FORM,
    ),
    "a user that is a number": (
        form_payload({"type": "block_actions", "actions": [{"action_id": "x"}], "user": 7}),
        FORM,
    ),
    "an action_id that is a list": (
        form_payload({"type": "block_actions", "actions": [{"action_id": ["x"]}], "user": ALICE}),
        FORM,
    ),
    "a view that is text": (
        form_payload({"type": "view_submission", "view": "x", "user": ALICE, "team": TEAM}),
        FORM,
    ),
    "a view_submission without a view": (
        form_payload({"type": "view_submission", "user": ALICE}),
        FORM,
    ),
    "JSON nested 100 deep": (nested_actions(100), FORM),
    "JSON nested 20,000 deep": (nested_actions(20_000), FORM),
    "a command without a user": (
        urlencode({"command": "/baton", "text": "list", "team_id": "T0BATON"}).encode(),
        FORM,
    ),
    "an event_callback without an event": (
        json.dumps({"type": "event_callback", "team_id": "T0BATON"}).encode(),
        JSON_TYPE,
    ),
    "an event that is text": (event_body("x"), JSON_TYPE),
    "app_home_opened without a user": (event_body({"type": "app_home_opened"}), JSON_TYPE),
    "app_home_opened with a user object": (
        event_body({"type": "app_home_opened", "user": {"id": 1}}),
        JSON_TYPE,
    ),
    "tokens_revoked with text tokens": (
        event_body({"type": "tokens_revoked", "tokens": "x"}),
        JSON_TYPE,
    ),
    "a team_id that is a number": (event_body({"type": "app_home_opened"}, team_id=5), JSON_TYPE),
}


def slack_calls(stack: Stack) -> list[str]:
    """The Web API calls Baton made, beyond the start-up's auth.test."""
    return [call.method for call in stack.emulator.calls if call.method != "auth.test"]


def problems_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("shape", list(UNSIGNED))
async def test_an_unsigned_request_is_refused_401_in_one_line(
    stack: Stack, caplog: pytest.LogCaptureFixture, shape: str
) -> None:
    body, headers = UNSIGNED[shape]
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.url}/slack/events", content=body, headers=headers)
    await stack.settle()

    assert response.status_code == 401, response.text
    logged = problems_logged(caplog)
    assert [r.getMessage() for r in logged] == [
        "refused a request to /slack/events: not signed by Slack"
    ]
    assert not [r for r in caplog.records if r.exc_info]
    assert slack_calls(stack) == []


@pytest.mark.parametrize("shape", list(SIGNED_MALFORMED))
async def test_a_signed_but_malformed_request_is_refused_400_in_one_line(
    stack: Stack, caplog: pytest.LogCaptureFixture, shape: str
) -> None:
    body, content_type = SIGNED_MALFORMED[shape]
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{stack.url}/slack/events", content=body, headers=signed_headers(body, content_type)
        )
    await stack.settle()

    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("malformed request: ")
    logged = problems_logged(caplog)
    assert len(logged) == 1 and logged[0].getMessage().startswith("refused a signed request")
    assert len(logged[0].getMessage()) < 200
    assert not [r for r in caplog.records if r.exc_info]
    assert slack_calls(stack) == []


# -- 4. requests no listener wants: 200, logged once ----------------------------------------------

NO_LISTENER: dict[str, tuple[bytes, str]] = {
    "an unknown action": (
        form_payload(
            {
                "type": "block_actions",
                "user": ALICE,
                "team": TEAM,
                "trigger_id": "1.2.3",
                "actions": [{"type": "button", "action_id": "from_an_old_version", "value": "x"}],
            }
        ),
        FORM,
    ),
    "view_closed": (
        form_payload(
            {
                "type": "view_closed",
                "user": ALICE,
                "team": TEAM,
                "view": {"id": "V1", "callback_id": "builder", "type": "modal"},
                "is_cleared": False,
            }
        ),
        FORM,
    ),
    "an event type not subscribed to": (
        event_body({"type": "pin_added", "user": "U0ALICE", "channel_id": "C0GENERAL"}),
        JSON_TYPE,
    ),
    "app_rate_limited": (
        json.dumps(
            {
                "token": "x",
                "type": "app_rate_limited",
                "team_id": "T0BATON",
                "minute_rate_limited": 1518467820,
                "api_app_id": "A0BATON",
            }
        ).encode(),
        JSON_TYPE,
    ),
}


@pytest.mark.parametrize("shape", list(NO_LISTENER))
async def test_a_request_no_listener_wants_is_answered_200_and_logged_once(
    stack: Stack, caplog: pytest.LogCaptureFixture, shape: str
) -> None:
    body, content_type = NO_LISTENER[shape]
    caplog.set_level(logging.INFO, logger="baton")
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{stack.url}/slack/events", content=body, headers=signed_headers(body, content_type)
        )
    await stack.settle()

    assert response.status_code == 200, response.text
    said = [r.getMessage() for r in caplog.records if "no listener" in r.getMessage()]
    assert len(said) == 1, said
    assert problems_logged(caplog) == []
    assert slack_calls(stack) == []


# -- 5. user mistakes get their usage, never "Something went wrong" -------------------------------

GENERIC = "Something went wrong"


async def answer_to(stack: Stack, text: str, user: str = "U0ALICE") -> str:
    await stack.command(text, user=user)
    return stack.ephemeral(user)


async def test_a_cron_that_never_fires_is_explained(stack: Stack) -> None:
    await stack.command("define x X\ngo: Go <@U0ALICE>", user="U0ALICE")
    said = await answer_to(stack, "schedule x 0 0 31 2 *")
    assert "`0 0 31 2 *` never happens" in said, said
    assert "Usage: `/baton schedule" in said
    assert (await answer_to(stack, "schedules")).startswith("No recurring runs yet.")


async def test_away_until_the_end_of_time_is_explained(stack: Stack) -> None:
    said = await answer_to(stack, "away 9999-12-31")
    assert "up to a year" in said and "Usage: `/baton away" in said, said
    said = await answer_to(stack, "away 9999-12-31 23:59")
    assert "up to a year" in said and "Usage: `/baton away" in said, said
    assert (await answer_to(stack, "away")).startswith("You're not away.")


@pytest.mark.parametrize(
    "command",
    [
        "away {huge}",
        "hours {huge}",
        "hours 09:00-17:00 {huge}",
        "schedule x {huge}",
        "schedule x daily {huge}",
        "digest daily {huge}",
    ],
)
async def test_a_huge_argument_is_echoed_clipped_and_escaped(stack: Stack, command: str) -> None:
    await stack.command("define x X\ngo: Go <@U0ALICE>", user="U0ALICE")
    huge = "<!channel>" + "w" * 200_000
    said = await answer_to(stack, command.format(huge=huge))
    assert "Usage: `/baton" in said, said[:300]
    assert len(said) < 1000, said[:300]
    assert "&lt;!channel&gt;" in said and "<!channel>" not in said


async def test_a_nul_byte_in_an_argument_gets_the_usage(stack: Stack) -> None:
    await stack.command("define x X\ngo: Go <@U0ALICE>", user="U0ALICE")
    await stack.command("run x", user="U0ALICE")
    for command in ["block x-1 go waiting\x00for it", "away 2d delegate <@U0BOB>\x00"]:
        said = await answer_to(stack, command)
        assert "NUL character" in said and "Usage: `/baton" in said, said
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        rows = (await session.exec(select(Person).where(col(Person.user_id) == "U0ALICE"))).all()
    assert [row.away_until for row in rows] == [None]


@pytest.mark.parametrize(
    "forged",
    [
        '{"timers":[9223372036854775808]}',  # 2**63: past any SQL integer
        '{"timers":[-1]}',
        '{"timers":' + "[" * 1500 + "]" * 1500 + "}",  # nested deeper than a JSON parser recurses
        '{"timers":[' + ",".join(["1"] * 5000) + "]}",  # longer than any value Baton writes
    ],
)
async def test_a_forged_snooze_value_is_refused_politely(stack: Stack, forged: str) -> None:
    await stack.command("define review Review\nread: Read it <@U0ALICE> due 4h", user="U0DAVE")
    await stack.command("run review", user="U0DAVE")
    stack.clock.set(datetime(2026, 11, 23, 11, 12, tzinfo=UTC))
    await stack.baton.sweeper.sweep()
    await stack.settle()
    [(reminder, snooze)] = [
        (m, b)
        for m in stack.emulator.dm("U0ALICE")
        for b in m.buttons
        if b.action_id == ActionId.SNOOZE_HOUR
    ]
    snooze.element["value"] = forged  # what a forger would send in place of Baton's value

    response = await stack.driver.click(reminder, user="U0ALICE", action_id=ActionId.SNOOZE_HOUR)
    await stack.settle()

    assert response.status_code == 200
    said = stack.ephemeral("U0ALICE")
    assert said == "That button is no longer valid.", said
    assert GENERIC not in said


# -- 6. status's plain-text fallback stays within bounds ----------------------------------------


async def test_status_of_many_runs_clips_its_plain_text_like_its_blocks(stack: Stack) -> None:
    steps = "\n".join(
        f"s{n}: {'Check every clause of the contract once more ' * 3}<@U0ALICE>" for n in range(5)
    )
    await stack.command(f"define long {'A very long title ' * 5}\n{steps}", user="U0ALICE")
    for _ in range(24):
        await stack.driver.command("run long", user="U0ALICE", channel="C0GENERAL")
    await stack.settle()

    await stack.command("status", user="U0ALICE", channel="C0GENERAL")
    [reply] = [m for m in stack.emulator.ephemerals("U0ALICE") if "Active runs here" in m.text]
    assert len(reply.text) <= 3000, len(reply.text)
    assert reply.text.startswith("*Active runs here*")
    assert "`long-1`" in reply.text
    rendered = str(reply.blocks)
    assert "`long-20`" in rendered and "`/baton status 2` shows the next 4." in rendered


@pytest.mark.parametrize("command", ["block x-1 go {huge}", "cancel x-1 {huge}"])
async def test_a_huge_reason_reaches_the_thread_clipped(stack: Stack, command: str) -> None:
    await stack.command("define x X\ngo: Go <@U0ALICE>", user="U0ALICE")
    await stack.command("run x", user="U0ALICE")
    huge = "<!channel> " + "r" * 200_000
    await stack.command(command.format(huge=huge), user="U0ALICE")

    assert [call.error for call in stack.emulator.calls if not call.ok] == []
    thread = [m for m in stack.emulator.messages("C0GENERAL", replies=True) if m.is_reply]
    assert thread and all(len(m.text) <= 3000 for m in thread)
    assert any("&lt;!channel&gt; rrr" in m.text and m.text.endswith("…") for m in thread)
    assert not [m for m in stack.emulator.dm("U0ALICE") if "could not deliver" in m.text]
