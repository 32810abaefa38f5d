"""Status digests as a channel sees them, over real HTTP against the Slack emulator (which
rejects any message outside Block Kit's limits): quiet, typical and 1,000-run channels,
subscriptions fired once per occurrence by the sweep, and operator template overrides."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from sqlmodel import select

from bench.digest import seed
from bot.digests.firing import fire_due_digests
from bot.slack_emulator import Message, check_blocks, render_blocks
from storage.db import session_factory, unit_of_work
from storage.models import DigestSubscription, Outbox
from tests.messages import next_command, status_keys
from tests.stack import START, Stack, open_stack

ONBOARDING = """define onboarding Onboard a new hire
docs: Collect signed documents <@U0ALICE|alice> due 1d
laptop: Prepare laptop <!subteam^S0ITTEAM|@it-team> after docs due 2d
lunch: "Welcome lunch" {manager} after laptop
signoff: Sign-off {manager} approval after lunch due 4h"""
HOUR = timedelta(hours=1)


def digests(stack: Stack, channel: str) -> list[Message]:
    return [m for m in stack.emulator.messages(channel) if m.text.startswith("Status digest")]


def shown(message: Message) -> str:
    return render_blocks(message.blocks)


def part(text: str, heading: str) -> str:
    """One part of a rendered digest: its heading line down to the divider after it."""
    start = text.index(f"*{heading}")
    end = text.find("\n-----", start)
    return text[start : end if end != -1 else len(text)]


async def sweep(stack: Stack) -> None:
    await stack.baton.sweeper.sweep()
    await stack.settle()


async def subscription(stack: Stack, channel: str) -> DigestSubscription:
    async with unit_of_work(session_factory(stack.baton.runtime.engine)) as session:
        return (
            await session.exec(
                select(DigestSubscription).where(DigestSubscription.channel_id == channel)
            )
        ).one()


# -- what a digest says ---------------------------------------------------------------------------


async def test_a_quiet_channel_gets_one_short_line(stack: Stack) -> None:
    await stack.command("digest now", user="U0BOB", channel="C0OPS")
    assert stack.ephemeral("U0BOB") == "A status digest for <#C0OPS> is on its way."
    [digest] = digests(stack, "C0OPS")
    assert len(digest.blocks) == 1
    assert shown(digest).startswith("🌤️ All quiet in <#C0OPS>: no active runs, and nothing")


async def test_a_typical_digest(stack: Stack) -> None:
    await stack.command(ONBOARDING, user="U0ALICE")
    await stack.command("run onboarding manager=<@U0DAVE|dave> by 2026-11-24", user="U0ALICE")
    await stack.command("run onboarding manager=<@U0DAVE|dave>", user="U0ALICE")
    await stack.command("run onboarding manager=<@U0DAVE|dave>", user="U0ALICE")
    await stack.command("block onboarding-1 docs waiting for <HR> & legal", user="U0ALICE")
    stack.clock.advance(25 * HOUR)  # docs was due after a day: both are an hour overdue
    await stack.command("cancel onboarding-3 <!channel> wrong hire", user="U0ALICE")
    await stack.command("digest now", user="U0ALICE")

    [digest] = digests(stack, "C0GENERAL")
    text = shown(digest)
    assert digest.text == (
        "Status digest for <#C0GENERAL>: 2 active runs, 2 need attention, 1 finished"
    )
    assert "*🚨 Needs attention (2)*" in text
    # What users typed is escaped: nobody gets pinged, no link is forged.
    assert (
        "⛔ `onboarding-1` · `docs` Collect signed documents · <@U0ALICE> · blocked: "
        "_waiting for &lt;HR&gt; &amp; legal_ · overdue by 1h" in text
    )
    assert "⏰ `onboarding-2` · `docs` Collect signed documents · <@U0ALICE> · overdue by 1h" in (
        text
    )
    assert "<!channel>" not in str(digest.blocks)
    assert "🚫 *Onboard a new hire* `onboarding-3` cancelled: _&lt;!channel&gt; wrong hire_" in (
        text
    )
    # onboarding-1: docs' day is used up, then laptop 2d, lunch 0, signoff 4h, against a
    # deadline of 18:00 Berlin on the 24th.
    finish = START + 25 * HOUR + timedelta(days=2, hours=4)
    deadline = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    assert "*⚠️ At risk of missing the deadline (1)*" in text
    assert f"`onboarding-1` · projected <!date^{int(finish.timestamp())}^" in text
    assert f"deadline <!date^{int(deadline.timestamp())}^" in text
    assert "1d 20h late (from the plan)" in text
    assert "*🏃 Active runs (2)*" in text
    assert "▱▱▱▱▱▱▱▱▱▱ 0/4 *Onboard a new hire* `onboarding-1` · now: `docs` <@U0ALICE>" in text
    assert "*👥 Open steps per person*\n<@U0ALICE>: 2 open, 2 overdue, 1 blocked" in text
    assert "Bottlenecks" not in text  # nothing has finished in 30 days

    # The next digest reports only what finished after this one.
    await stack.command("digest now", user="U0ALICE")
    assert "onboarding-3" not in shown(digests(stack, "C0GENERAL")[-1])


async def test_a_thousand_active_runs_stay_inside_block_kit(stack: Stack) -> None:
    await seed(stack.baton.runtime.engine, active=1000, completed=60, now=stack.clock.now())
    await stack.command("digest now", user="U0ALICE")

    [digest] = digests(stack, "C0GENERAL")  # the emulator accepted it: every limit held
    assert check_blocks(digest.blocks) == []
    assert len(digest.blocks) <= 50
    assert all(
        len(block["text"]["text"]) <= 3000 for block in digest.blocks if block["type"] == "section"
    )
    text = shown(digest)
    assert digest.text.startswith("Status digest for <#C0GENERAL>: 1000 active runs,")
    assert "*🏃 Active runs (1000)*" in text
    assert "…and 975 more: `/baton status` in <#C0GENERAL> pages through them" in text
    for heading in ("🚨 Needs attention", "⚠️ At risk of missing the deadline"):
        assert re.search(r"\n…and [0-9]+ more$", part(text, heading)), heading
    assert "*🐢 Bottlenecks: longest median wait, last 30 days*" in text
    # Long titles and reasons are cut cleanly, never mid-entity.
    assert "&lt;HR&gt; &amp; legal" in text
    for block in digest.blocks:
        if block["type"] == "section":
            for line in block["text"]["text"].split("\n"):
                assert len(line) <= 800
                assert not line.endswith("&") and "&amp…" not in line


async def test_the_digest_sends_readers_to_status_pages_that_hold_every_run(stack: Stack) -> None:
    await seed(stack.baton.runtime.engine, active=60, completed=0, now=stack.clock.now())
    await stack.command("digest now", user="U0ALICE")
    [digest] = digests(stack, "C0GENERAL")
    active = part(shown(digest), "🏃 Active runs")
    in_digest = re.findall(r"^\S+ \d+/\d+ \*.+?\* `([a-z0-9-]+)`", active, re.MULTILINE)
    assert len(in_digest) == 25
    assert active.endswith("\n…and 35 more: `/baton status` in <#C0GENERAL> pages through them")

    # Doing what it says, in that channel, shows the 25 in the digest's order, then the 35.
    await stack.command("status", user="U0BOB", channel="C0GENERAL")
    pages = [stack.answer("U0BOB")]
    while (command := next_command(pages[-1])) is not None:
        await stack.command(command, user="U0BOB", channel="C0GENERAL")
        pages.append(stack.answer("U0BOB"))
    in_status = [key for page in pages for key in status_keys(page)]
    assert len(pages) == 3
    assert in_status[:25] == in_digest
    assert sorted(in_status) == sorted(f"onboarding-{n}" for n in range(1, 61))


# -- subscriptions --------------------------------------------------------------------------------


async def test_subscribing_is_shown_back_in_the_subscribers_zone(stack: Stack) -> None:
    await stack.command("digest weekdays 9:00 <#C0ONBOARD|onboarding>", user="U0BOB")
    nine_new_york = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # it is 03:00 there now
    assert stack.ephemeral("U0BOB") == (
        "A status digest goes to <#C0ONBOARD> every weekday (Monday to Friday) at 09:00 "
        f"(America/New_York), next <!date^{int(nine_new_york.timestamp())}^"
        "{date_short_pretty} {time}|2026-11-23 14:00 UTC>. `/baton digest off` stops it."
    )
    row = await subscription(stack, "C0ONBOARD")
    assert (row.spec, row.cron, row.tz, row.created_by, row.active) == (
        "weekdays 09:00",
        "0 9 * * mon-fri",
        "America/New_York",
        "U0BOB",
        True,
    )
    assert row.next_fire_at == nine_new_york

    await stack.command("digest", user="U0CAROL", channel="C0ONBOARD")
    assert "every weekday (Monday to Friday) at 09:00 (America/New_York)" in (
        stack.ephemeral("U0CAROL")
    )
    await stack.command("digest weekly fri 16:30", user="U0CAROL", channel="C0ONBOARD")
    assert "every Friday at 16:30 (Asia/Tokyo)" in stack.ephemeral("U0CAROL")
    await stack.command("digest off", user="U0CAROL", channel="C0ONBOARD")
    assert stack.ephemeral("U0CAROL") == "Stopped the status digest for <#C0ONBOARD>."
    assert not (await subscription(stack, "C0ONBOARD")).active
    await stack.command("digest off", user="U0CAROL", channel="C0ONBOARD")
    assert stack.ephemeral("U0CAROL") == "<#C0ONBOARD> has no status digest to stop."


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("digest sometimes 09:00", "`sometimes 09:00` is not a schedule"),
        ("digest daily 25:00", "`25:00` is not a time"),
        ("digest weekly someday 09:00", "`someday` is not a day of the week"),
        ("digest daily 09:00 extra", "`extra` after `daily 09:00`"),
        ("digest now please", "`digest now` takes only a channel"),
        # Typed text is quoted back as text, as Slack sent it (escaped).
        ("digest weekly &lt;b&gt; 09:00", "`&lt;b&gt;` is not a day of the week"),
        ("digest daily 09:00 &lt;!here&gt;", "`&lt;!here&gt;` after `daily 09:00`"),
        ("digest sometimes", "`weekly &lt;day&gt; HH:MM` or a 5-field cron"),
    ],
)
async def test_mistakes_say_what_was_wrong_and_the_usage(
    stack: Stack, text: str, problem: str
) -> None:
    await stack.command(text, user="U0ALICE")
    reply = stack.ephemeral("U0ALICE")
    assert problem in reply
    assert "Usage: `/baton digest daily|weekdays|weekly &lt;day&gt; HH:MM [#channel]" in reply


async def test_a_digest_must_go_to_a_channel(stack: Stack) -> None:
    response = await stack.driver.command("digest now", user="U0ALICE")  # typed in a DM
    assert response.status_code == 200
    await stack.settle()
    assert "Digests go to a channel" in stack.ephemeral("U0ALICE")


async def test_a_scheduled_digest_fires_once_per_occurrence(stack: Stack) -> None:
    # Monday 08:00 UTC is 09:00 in Alice's Berlin: the next weekday 09:00 is Tuesday's.
    await stack.command("digest weekdays 09:00", user="U0ALICE")
    # A run in the channel, so that each digest has something to say.
    await stack.command(ONBOARDING, user="U0ALICE")
    await stack.command("run onboarding manager=<@U0DAVE|dave>", user="U0ALICE")
    await sweep(stack)
    assert digests(stack, "C0GENERAL") == []

    stack.clock.set(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    await sweep(stack)
    await sweep(stack)
    stack.clock.advance(timedelta(minutes=1))
    await sweep(stack)
    assert len(digests(stack, "C0GENERAL")) == 1

    # Down from Tuesday to Saturday: Wednesday's to Friday's digests come as one, once.
    stack.clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))
    await sweep(stack)
    await sweep(stack)
    assert len(digests(stack, "C0GENERAL")) == 2
    row = await subscription(stack, "C0GENERAL")
    assert row.next_fire_at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday, not Sunday
    assert row.last_sent_at == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


async def test_a_quiet_channel_hears_all_quiet_once_until_something_changes(stack: Stack) -> None:
    await stack.command("digest daily 09:00", user="U0ALICE")

    async def day(n: int) -> list[str]:
        stack.clock.set(datetime(2026, 11, n, 8, 0, tzinfo=UTC))  # 09:00 in Berlin
        await sweep(stack)
        return [shown(m) for m in digests(stack, "C0GENERAL")]

    assert [text.startswith("🌤️ All quiet in <#C0GENERAL>") for text in await day(24)] == [True]
    assert len(await day(25)) == 1
    assert len(await day(26)) == 1

    # Something happens: a run starts and is cancelled. The next digest reports it, and the
    # day after that the channel is quiet again, which is said once more.
    stack.clock.advance(HOUR)
    await stack.command(ONBOARDING, user="U0ALICE")
    await stack.command("run onboarding manager=<@U0DAVE|dave>", user="U0ALICE")
    await stack.command("cancel onboarding-1 not needed", user="U0ALICE")
    texts = await day(27)
    assert len(texts) == 2 and "onboarding-1" in texts[-1]
    texts = await day(28)
    assert len(texts) == 3 and texts[-1].startswith("🌤️ All quiet in <#C0GENERAL>")
    assert len(await day(29)) == 3

    # Asked for, it always answers.
    await stack.command("digest now", user="U0ALICE")
    texts = [shown(m) for m in digests(stack, "C0GENERAL")]
    assert len(texts) == 4 and texts[-1].startswith("🌤️ All quiet in <#C0GENERAL>")
    assert len(await day(30)) == 4


async def test_daylight_saving_keeps_local_time(stack: Stack) -> None:
    await stack.command("digest daily 09:00", user="U0ALICE")
    stack.clock.set(datetime(2027, 3, 27, 8, 0, tzinfo=UTC))  # Saturday 09:00 CET
    await sweep(stack)
    assert len(digests(stack, "C0GENERAL")) == 1
    row = await subscription(stack, "C0GENERAL")
    assert row.next_fire_at == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)  # Sunday 09:00 CEST


async def test_racing_sweeps_fire_a_digest_once(stack: Stack) -> None:
    await stack.command("digest daily 09:00", user="U0ALICE")
    runtime = stack.baton.runtime
    later = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    results = await asyncio.gather(
        *(fire_due_digests(runtime, later) for _ in range(4)), return_exceptions=True
    )
    # A loser finds the row moved on (or, on SQLite, the database busy): never a second digest.
    assert sum(result for result in results if isinstance(result, int)) == 1
    async with unit_of_work(session_factory(runtime.engine)) as session:
        queued = (await session.exec(select(Outbox).where(Outbox.kind == "digest"))).all()
    assert len(queued) == 1


# -- operator templates ---------------------------------------------------------------------------


OVERRIDE = """{% import "baton/digest.j2" as baton %}
{% macro header(d) %}Morning report{% endmacro %}
{% macro quiet(d) -%}
Nothing moving in {{ d.channel }} since {{ d.since|when }} {{ "<!here>" }}
{%- endmacro %}
{% macro run_line(r) %}>> {{ baton.run_line(r)|safe }}{% endmacro %}
"""


async def test_an_operator_override_changes_the_digest(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "digest.j2").write_text(OVERRIDE)
    async with open_stack(database_url, BATON_TEMPLATE_DIR=str(tmp_path)) as stack:
        await stack.command("digest now", user="U0BOB", channel="C0OPS")
        quiet = shown(digests(stack, "C0OPS")[-1])
        # The override's values are escaped for Slack like the built-in template's.
        assert quiet.startswith("Nothing moving in <#C0OPS> since <!date^")
        assert quiet.endswith("&lt;!here&gt;")

        await stack.command(ONBOARDING, user="U0ALICE")
        await stack.command("run onboarding manager=<@U0DAVE|dave>", user="U0ALICE")
        await stack.command("digest now", user="U0ALICE")
        busy = digests(stack, "C0GENERAL")[-1]
        assert busy.blocks[0]["text"]["text"] == "Morning report"
        # Left-out macros come from the built-in template; an override may build on them.
        assert "*🏃 Active runs (1)*\n>> ▱▱▱▱▱▱▱▱▱▱ 0/4 *Onboard a new hire*" in shown(busy)


@pytest.mark.parametrize(
    ("template", "logged", "error"),
    [
        ("{% macro quiet(d) %}{{ d.channel {% endmacro %}", "failed to load", TemplateSyntaxError),
        ("{% macro quiet(d) %}{{ d.no_such_thing }}{% endmacro %}", "quiet failed", UndefinedError),
        (
            "{% macro quiet(d) %}{{ d.__class__.__mro__ }}{% endmacro %}",
            "quiet failed",
            SecurityError,
        ),
    ],
    ids=["syntax", "undefined", "sandbox"],
)
async def test_a_broken_override_falls_back_to_the_built_in_template(
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    template: str,
    logged: str,
    error: type[Exception],
) -> None:
    (tmp_path / "digest.j2").write_text(template)
    async with open_stack(database_url, BATON_TEMPLATE_DIR=str(tmp_path)) as stack:
        with caplog.at_level(logging.ERROR, logger="baton.templates"):
            await stack.command("digest now", user="U0BOB", channel="C0OPS")
        [digest] = digests(stack, "C0OPS")
        assert shown(digest).startswith("🌤️ All quiet in <#C0OPS>")
        [record] = [r for r in caplog.records if r.name == "baton.templates"]
        assert logged in record.getMessage()
        assert record.exc_info is not None and isinstance(record.exc_info[1], error)


async def test_steps_done_within_a_minute_are_no_bottleneck(stack: Stack) -> None:
    quick = (
        "define quick Quick\nack: Acknowledge <@U0ALICE|alice>\n"
        "review: Review <@U0BOB|bob> after ack"
    )
    await stack.command(quick, user="U0ALICE")
    for number in (1, 2):
        await stack.command("run quick", user="U0ALICE")
        await stack.command(f"done quick-{number} ack", user="U0ALICE")  # at once
        stack.clock.advance(3 * HOUR)
        await stack.command(f"done quick-{number} review", user="U0BOB")

    await stack.command("digest now", user="U0ALICE")
    found = part(shown(digests(stack, "C0GENERAL")[-1]), "🐢 Bottlenecks")
    assert "`quick` · `review`: median 3h over 2 runs" in found
    assert "`ack`" not in found and "under a minute" not in found
