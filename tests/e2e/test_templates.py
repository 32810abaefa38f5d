"""Baton's prose from Jinja2 templates, over real HTTP: the built-in run card, step message,
reminders and help, operator overrides from BATON_TEMPLATE_DIR, and falling back to the
built-in template when an override breaks. (The digest's own are in test_digests.)"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.messages import labels
from tests.stack import Stack, open_stack, utc
from tests.workflows import REVIEW, start_review

CARD_OVERRIDE = """{% import "baton/run_card.j2" as baton %}
{% macro heading(r) -%}
*{{ r.title }}* ({{ r.key }}) · {{ r.done }} of {{ r.total }} · {{ "<!channel>" }}
{%- endmacro %}
{% macro step_line(s) %}-> {{ baton.step_line(s) }}{% endmacro %}
"""

STEP_OVERRIDE = """{% import "baton/step.j2" as baton %}
{% macro body(s, r) -%}
Hallo! {{ s.title }} für {{ r.key }}
{%- endmacro %}
{% macro button(action) -%}
{{ "Erledigt" if action == "step_done" else baton.button(action) }}
{%- endmacro %}
"""

REMINDER_OVERRIDE = """{% macro heading(n) %}Psst ({{ n }}){% endmacro %}
{% macro button(action) -%}
{{ "Later" if action == "reminder_snooze_hour" else "Tomorrow" }}
{%- endmacro %}
"""

HELP_OVERRIDE = """{% import "baton/help.j2" as baton %}
{% macro header() %}Baton for Acme{% endmacro %}
{% macro footer() %}Ask in #ops · {{ baton.footer() }}{% endmacro %}
"""


async def test_the_built_in_run_card_and_step_message(stack: Stack) -> None:
    # As Slack delivers what was typed: `&`, `<` and `>` escaped, mentions resolved.
    definition = (
        "define fix Fix R&amp;D &lt;stuff&gt;\n"
        "fix: Fix &lt;b&gt; &amp; test <@U0ALICE|alice> due 1d"
    )
    await stack.command(definition, user="U0DAVE")
    await stack.command("run fix", user="U0DAVE")
    shown = stack.card().blocks
    assert shown[0]["text"]["text"] == "*Fix R&amp;D &lt;stuff&gt;* · `fix-1`\n▱▱▱▱▱▱▱▱▱▱ 0/1 done"
    assert shown[1]["text"]["text"].startswith(
        "🔔 `fix` Fix &lt;b&gt; &amp; test · <@U0ALICE> · due <!date^"
    )
    assert shown[2]["elements"][0]["text"].startswith("Owner <@U0DAVE> · started <!date^")
    dm = stack.last_dm("U0ALICE")
    assert dm.text == "Your step: Fix &lt;b&gt; &amp; test (fix-1)"
    assert labels(dm) == ["Start", "Done", "Blocked…", "Reassign…"]

    # A reason typed into the cancel is escaped once, also where one macro calls another.
    await stack.command("cancel fix-1 R&amp;D said &lt;!here&gt;", user="U0DAVE")
    assert (
        stack.card().text
        == "Fix R&amp;D &lt;stuff&gt; (fix-1): 🚫 Cancelled: R&amp;D said &lt;!here&gt;"
    )


async def test_overrides_change_the_run_card_and_step_message(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "run_card.j2").write_text(CARD_OVERRIDE)
    (tmp_path / "step.j2").write_text(STEP_OVERRIDE)
    async with open_stack(database_url, BATON_TEMPLATE_DIR=str(tmp_path)) as stack:
        await start_review(stack)
        blocks = stack.card().blocks
        # The override's values are escaped like the built-in template's.
        assert blocks[0]["text"]["text"] == "*Review a doc* (review-1) · 0 of 1 · &lt;!channel&gt;"
        assert blocks[1]["text"]["text"].startswith("-> 🔔 `read` Read it · <@U0ALICE> · due")
        # Left-out macros come from the built-in template.
        assert blocks[2]["elements"][0]["text"].startswith("Owner <@U0DAVE>")

        dm = stack.last_dm("U0ALICE")
        assert dm.blocks[0]["text"]["text"] == "Hallo! Read it für review-1"
        assert labels(dm) == ["Start", "Erledigt", "Blocked…", "Reassign…"]
        await stack.click(dm, "U0ALICE", "Erledigt")  # the renamed button still works
        assert (await stack.steps("review-1"))["read"].state == "done"
        assert "✅ Done by <@U0ALICE>" in stack.last_dm("U0ALICE").render()


async def test_overrides_change_reminders_and_help(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "reminder.j2").write_text(REMINDER_OVERRIDE)
    (tmp_path / "help.j2").write_text(HELP_OVERRIDE)
    async with open_stack(database_url, BATON_TEMPLATE_DIR=str(tmp_path)) as stack:
        await start_review(stack, REVIEW)
        await stack.sweep_at(utc(23, 11, 12))
        [soon] = stack.reminders_for("U0ALICE")
        assert soon.blocks[0]["text"]["text"].startswith("Psst (1)\n⏳ Due soon: `read` Read it")
        assert labels(soon) == ["Later", "Tomorrow"]

        await stack.command("help", user="U0ALICE")
        [help_message] = stack.emulator.ephemerals("U0ALICE")[-1:]
        assert help_message.blocks[0]["text"]["text"] == "Baton for Acme"
        assert help_message.blocks[-1]["elements"][0]["text"].startswith(
            "Ask in #ops · More: `/baton help language`"
        )


async def test_help_escapes_its_placeholders_for_slack(stack: Stack) -> None:
    await stack.command("help language", user="U0ALICE")
    text = stack.ephemeral("U0ALICE")
    assert text.startswith("*The workflow language*")
    assert "`&lt;id&gt;: &lt;title&gt; &lt;clauses&gt;`" in text
    assert "<id>" not in text
    await stack.command("help runs", user="U0ALICE")
    assert (
        "`/baton run &lt;name&gt; [key=value ...] [by &lt;date&gt;] [#channel]`  start a run"
        in (stack.ephemeral("U0ALICE"))
    )


@pytest.mark.parametrize(
    ("template", "logged"),
    [
        ("{% macro body(s, r) %}{{ s.title {% endmacro %}", "failed to load"),
        ("{% macro body(s, r) %}{{ s.no_such_thing }}{% endmacro %}", "body failed"),
        ("{% macro body(s, r) %}{{ s.__class__.__mro__ }}{% endmacro %}", "body failed"),
    ],
    ids=["syntax", "undefined", "sandbox"],
)
async def test_a_broken_step_override_falls_back_and_is_logged(
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    template: str,
    logged: str,
) -> None:
    (tmp_path / "step.j2").write_text(template)
    async with open_stack(database_url, BATON_TEMPLATE_DIR=str(tmp_path)) as stack:
        with caplog.at_level(logging.ERROR, logger="baton.templates"):
            await start_review(stack)
        dm = stack.last_dm("U0ALICE")
        assert dm.blocks[0]["text"]["text"].startswith("*Your step:* Read it\nRun `review-1`")
        assert labels(dm) == ["Start", "Done", "Blocked…", "Reassign…"]
        records = [r for r in caplog.records if r.name == "baton.templates"]
        assert records and all(logged in r.getMessage() for r in records)
