"""Each user action (its `trigger_id`) applies once: a signed request replayed within Slack's
five-minute window, or resent as a retry, is answered 200 and changes nothing."""

from __future__ import annotations

from sqlmodel import select

from storage.db import session_factory, unit_of_work
from storage.models import Run, SlackRequest
from tests.stack import Stack

TRIO = """define trio Three things at once
one: First thing <@U0ALICE|alice>
two: Second thing <@U0BOB|bob>
three: Third thing <@U0CAROL|carol>"""


async def runs(stack: Stack) -> list[Run]:
    async with unit_of_work(session_factory(stack.baton.runtime.engine)) as session:
        return list((await session.exec(select(Run))).all())


async def test_a_replayed_or_retried_run_command_starts_one_run(stack: Stack) -> None:
    await stack.command(TRIO, user="U0ALICE")
    await stack.command("run trio", user="U0DAVE")
    started = stack.emulator.ephemerals("U0DAVE")
    assert "Started `trio-1`" in started[-1].text

    # An attacker (or a proxy) resends the signed request byte for byte, then as a retry.
    replayed = await stack.driver.replay(retry_num=None)
    assert replayed.status_code == 200 and replayed.content == b""
    await stack.settle()
    retried = await stack.driver.replay(retry_num=2, retry_reason="http_timeout")
    assert retried.status_code == 200 and retried.content == b""
    await stack.settle()

    assert [run.key for run in await runs(stack)] == ["trio-1"]
    assert len([m for m in stack.emulator.messages("C0GENERAL") if not m.is_reply]) == 1
    assert len(stack.emulator.dm("U0ALICE")) == 1
    assert stack.emulator.ephemerals("U0DAVE") == started
    async with unit_of_work(session_factory(stack.baton.runtime.engine)) as session:
        kept = (await session.exec(select(SlackRequest))).all()
    assert len(kept) == 2 and all(row.done_at is not None for row in kept)


async def test_a_new_action_by_the_same_person_still_applies(stack: Stack) -> None:
    await stack.command(TRIO, user="U0ALICE")
    await stack.command("run trio", user="U0DAVE")
    await stack.command("run trio", user="U0DAVE")
    assert sorted(run.key for run in await runs(stack)) == ["trio-1", "trio-2"]
