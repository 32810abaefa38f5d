"""Hardening of Baton's inputs (issue 14), each over real HTTP on both backends: first
contact races, oversized and malformed requests, requests no listener wants, and user
mistakes that must get their usage rather than a generic error."""

from __future__ import annotations

import asyncio

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
