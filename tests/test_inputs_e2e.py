"""Hardening of Baton's inputs (issue 14), each over real HTTP on both backends: first
contact races, oversized and malformed requests, requests no listener wants, and user
mistakes that must get their usage rather than a generic error."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, func, select

from storage.db import unit_of_work
from storage.models import Person, Run
from tests.stack import Stack

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
