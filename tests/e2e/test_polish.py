"""Rough edges from an audit, each through the path a user takes: the Slack stack over HTTP
(both backends), the `baton` CLI, and the console."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from bot.app.cli import cli
from bot.app.composition import create_app
from bot.config import load_settings
from bot.console.session import ConsoleOptions, open_console
from bot.core.clock import ManualClock
from bot.integrations import outcomes
from bot.slack_emulator import SlackEmulator
from storage.db import unit_of_work
from storage.models import Run
from tests.messages import labels
from tests.stack import START, Stack, make_settings
from tests.workflows import add_okta, start_fork

# Two branches: bob's approval beside carol's task, then a join.


async def run_count(stack: Stack) -> int:
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        return (await session.exec(select(func.count()).select_from(Run))).one()


# -- 1. a failed step tells the run's owner at once ----------------------------------------------


async def test_a_rejection_with_another_branch_open_tells_the_owner_at_once(stack: Stack) -> None:
    await start_fork(stack)
    await stack.command("reject fork-1 review The <!channel> terms changed", user="U0BOB")

    assert await stack.run_state("fork-1") == "active"  # carol's branch is still open
    failed = stack.with_buttons("U0ALICE")
    assert len(failed) == 1  # one message, now
    dm = failed[0]
    assert labels(dm) == ["Retry", "Skip"]
    assert "`review`" in dm.text and "rejected by <@U0BOB>" in dm.text
    assert "The &lt;!channel&gt; terms changed" in str(dm.blocks)
    assert "<!channel>" not in str(dm.blocks)

    # Skip from that very message moves the run on; it completes when carol is done.
    response = await stack.driver.click(dm, user="U0ALICE", text="Skip")
    assert response.status_code == 200
    await stack.settle()
    await stack.command("done fork-1 order", user="U0CAROL")
    assert (await stack.steps("fork-1"))["ship"].state == "ready"
    # The failed-step DM lost its spent buttons; ship's own step DM has its own, nothing else.
    assert len(stack.with_buttons("U0ALICE")) == 1
    await stack.command("done fork-1 ship", user="U0ALICE")
    assert await stack.run_state("fork-1") == "completed"


async def test_a_failure_that_ends_the_run_is_told_once(stack: Stack) -> None:
    await start_fork(stack)
    await stack.command("done fork-1 order", user="U0CAROL")
    await stack.command("reject fork-1 review Too expensive", user="U0BOB")

    assert await stack.run_state("fork-1") == "failed"
    failed = stack.with_buttons("U0ALICE")
    assert len(failed) == 1
    assert "Your run `fork-1` (Fork in two) failed" in failed[0].text
    assert labels(failed[0]) == ["Retry", "Skip"]


async def test_a_rejected_branch_then_the_run_failing_later(stack: Stack) -> None:
    await start_fork(stack)
    await stack.command("reject fork-1 review No budget", user="U0BOB")
    assert len(stack.with_buttons("U0ALICE")) == 1
    # Nobody retried or skipped it: once carol's branch is done, the run fails, and says so.
    await stack.command("done fork-1 order", user="U0CAROL")
    assert await stack.run_state("fork-1") == "failed"
    told = stack.with_buttons("U0ALICE")
    assert len(told) == 2
    assert "Your run `fork-1` (Fork in two) failed: `review`: No budget" in told[-1].text


async def test_a_hook_failure_with_another_branch_open_is_one_dm(stack: Stack) -> None:
    await add_okta(stack)
    await stack.command(
        "define prov Provision\naccounts: Accounts hook:okta\ndesk: Desk <@U0CAROL|carol>",
        user="U0ALICE",
    )
    await stack.command("run prov", user="U0ALICE")
    # What the integration's callback (or the last failed try) reports.
    assert await outcomes.fail(stack.baton.runtime, "T0BATON", "prov-1", "accounts", "HTTP 422")
    await stack.settle()

    assert await stack.run_state("prov-1") == "active"
    failed = stack.with_buttons("U0ALICE")
    assert len(failed) == 1
    assert "`accounts`" in failed[0].text and "failed: HTTP 422" in failed[0].text
    assert "Retry calls the integration again" in str(failed[0].blocks)
    assert labels(failed[0]) == ["Retry", "Skip"]


# -- 2. what a refused click says -----------------------------------------------------------------


async def test_refusals_read_naturally(stack: Stack) -> None:
    await start_fork(stack)
    review_dm = stack.with_buttons("U0BOB")[-1]
    stale = review_dm.snapshot()
    await stack.command("reject fork-1 review Not now", user="U0BOB")
    await stack.driver.click(stale, user="U0BOB", text="Approve")
    await stack.settle()
    assert stack.ephemeral("U0BOB").startswith("This step was already rejected by <@U0BOB>;")

    await stack.command("done fork-1 order", user="U0BOB")
    assert "is for <@U0CAROL>, so you can't mark it done." in stack.ephemeral("U0BOB")
    await stack.command("start fork-1 order", user="U0BOB")
    assert "so you can't start it." in stack.ephemeral("U0BOB")

    await stack.command("skip fork-1 order", user="U0CAROL")
    refused = stack.ephemeral("U0CAROL")
    assert "the owner and editors of `fork`" in refused
    assert "workspace admins may skip steps in `fork-1`" in refused

    await stack.command("done fork-1 order", user="U0CAROL")  # the run fails: review failed
    await stack.command("done fork-1 order", user="U0CAROL")
    assert stack.ephemeral("U0CAROL") == "`fork-1` has failed; its steps can't change any more."


async def test_a_second_done_names_who_did_it(stack: Stack) -> None:
    await start_fork(stack)
    await stack.command("done fork-1 order", user="U0CAROL")
    await stack.command("done fork-1 order", user="U0CAROL")
    assert stack.ephemeral("U0CAROL").startswith("This step was already done by <@U0CAROL>;")
    await stack.command("approve fork-1 review", user="U0BOB")
    await stack.command("reject fork-1 review Late", user="U0BOB")
    assert stack.ephemeral("U0BOB").startswith("This step was already approved by <@U0BOB>;")


async def test_refusals_name_the_step_kind_and_what_can_be_claimed(stack: Stack) -> None:
    await start_fork(stack)
    await stack.command("done fork-1 review", user="U0BOB")
    assert stack.ephemeral("U0BOB").startswith("done does not apply to an approval step;")
    await stack.command("claim fork-1 order", user="U0CAROL")
    assert stack.ephemeral("U0CAROL") == (
        "Only a step for a group can be claimed; this one is for one person; "
        "nothing was changed. (`order`)"
    )
    order = (await stack.steps("fork-1"))["order"]
    assert order.claimed_by is None
    assert order.state == "ready"


# -- 3. input that used to be accepted without a word --------------------------------------------


async def test_run_refuses_a_past_deadline_and_repeated_or_nameless_parameters(
    stack: Stack,
) -> None:
    await stack.command('define f Form\na: "Greet {boss}" <@U0BOB|bob>', user="U0ALICE")

    await stack.command("run f boss=x by 2020-01-01", user="U0ALICE")
    assert "`by 2020-01-01`: that deadline (18:00 your time) has passed" in stack.ephemeral(
        "U0ALICE"
    )
    await stack.command("run f boss=x boss=y", user="U0ALICE")
    assert "`boss` is given twice: give each parameter once." in stack.ephemeral("U0ALICE")
    await stack.command("run f =x", user="U0ALICE")
    assert "`=x` has no parameter name before `=`." in stack.ephemeral("U0ALICE")
    assert await run_count(stack) == 0

    # Today until 18:00 local is still ahead: accepted.
    await stack.command("run f boss=x by 2026-11-23", user="U0ALICE")
    assert "Started `f-1`" in stack.ephemeral("U0ALICE")


async def test_schedule_refuses_a_repeated_parameter(stack: Stack) -> None:
    await stack.command('define f Form\na: "Greet {boss}" <@U0BOB|bob>', user="U0ALICE")
    await stack.command("schedule f daily 09:00 boss=x boss=y", user="U0ALICE")
    assert "`boss` is given twice" in stack.ephemeral("U0ALICE")
    await stack.command("schedule f daily 09:00 =y", user="U0ALICE")
    assert "`=y` has no parameter name" in stack.ephemeral("U0ALICE")
    await stack.command("schedules", user="U0ALICE")
    assert "No recurring runs yet" in stack.ephemeral("U0ALICE")


async def test_away_and_hours_say_what_is_wrong(stack: Stack) -> None:
    await stack.command("away 366d", user="U0ALICE")
    assert "`366d` is too long: Baton takes time away of up to a year (365 days)" in (
        stack.ephemeral("U0ALICE")
    )
    await stack.command("away 365d", user="U0ALICE")
    assert "You're away for 365d" in stack.ephemeral("U0ALICE")
    await stack.command("hours -", user="U0ALICE")
    assert "`-` lacks a start and an end: write HH:MM-HH:MM" in stack.ephemeral("U0ALICE")
    await stack.command("hours 09:00-", user="U0ALICE")
    assert "`09:00-` lacks an end" in stack.ephemeral("U0ALICE")


async def test_reassign_says_what_is_wrong(stack: Stack) -> None:
    await start_fork(stack)
    await stack.command("reassign fork-1 order <@U0BOB|bob> now", user="U0ALICE")
    assert "Give just the one person, with nothing after them (`now` is extra)." in (
        stack.ephemeral("U0ALICE")
    )
    await stack.command("reassign fork-1 order bob", user="U0ALICE")
    assert "`bob` is not a person: mention one with `@`" in stack.ephemeral("U0ALICE")
    await stack.command("reassign fork-1 order", user="U0ALICE")
    assert "Who should take it?" in stack.ephemeral("U0ALICE")
    assert (await stack.steps("fork-1"))["order"].assignee_id == "U0CAROL"


# -- 7. YAML parameters are optional unless `required: true` -------------------------------------

SPEC_YAML = """name: onboarding
title: Onboard a new hire
params:
  manager: {type: user, required: true}
  hire: {type: text}
  buddy: {type: user}
steps:
  - {id: docs, title: "Collect signed documents for {hire}", assignee: U0ALICE, due: 1d}
  - {id: coffee, title: Coffee, assignee: "{buddy}"}
  - {id: signoff, title: Sign-off, kind: approval, assignee: "{manager}", after: [docs]}
"""


async def test_yaml_parameters_are_optional_unless_required(stack: Stack) -> None:
    await stack.command("import", user="U0ALICE")
    response = await stack.driver.submit_view(user="U0ALICE", values={"wf_yaml": SPEC_YAML})
    assert stack.driver.view_errors(response) is None
    await stack.settle()

    await stack.command("run onboarding hire=Erin", user="U0ALICE")
    assert "`onboarding` needs manager" in stack.ephemeral("U0ALICE")
    # hire and buddy may be left out; buddy's step goes to the run's owner.
    await stack.command("run onboarding manager=<@U0DAVE|dave>", user="U0ALICE")
    assert "Started `onboarding-1`" in stack.ephemeral("U0ALICE")
    rows = await stack.steps("onboarding-1")
    assert rows["coffee"].assignee_id == "U0ALICE"
    assert rows["signoff"].assignee_id == "U0DAVE"

    await stack.command("export onboarding", user="U0ALICE")
    exported = stack.ephemeral("U0ALICE")
    assert "manager: {type: user, required: true}" in exported
    assert "hire: {type: text}" in exported


# -- 4. `baton check` reads SPEC's own text example ---------------------------------------------

SPEC_TEXT = """/baton define onboarding Onboard a new hire
docs: Collect signed documents @alice due 1d
laptop: Prepare laptop @it-team after docs due 2d
accounts: Create accounts hook:okta after docs
lunch: "Welcome lunch" {manager} after laptop, accounts
signoff: Sign-off {manager} approval after lunch due 4h
"""


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
        "SLACK_APP_TOKEN",
        "BATON_DATABASE_URL",
        "BATON_PUBLIC_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_check_reads_the_slash_command_form(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "onboarding.txt"
    path.write_text(SPEC_TEXT)
    result = runner.invoke(cli, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "onboarding: Onboard a new hire (5 steps)" in result.output
    assert "Critical path: docs → laptop → lunch → signoff" in result.output

    # Problems name the file's own lines.
    path.write_text(SPEC_TEXT.replace("after docs due 2d", "after dcos due 2d"))
    result = runner.invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    assert "line 3 (step laptop): after names unknown step 'dcos'" in result.output

    path.write_text(SPEC_TEXT.removeprefix("/baton define "))  # the bare form still works
    assert runner.invoke(cli, ["check", str(path)]).exit_code == 0


# -- 5. start-up stops with one line naming the setting -----------------------------------------


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


def test_a_sqlite_file_in_a_missing_folder_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    env = {"BATON_DATABASE_URL": "sqlite:///nope/x.db"}
    result = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 2
    assert one_line(result.output) == (
        f"baton: BATON_DATABASE_URL: cannot open sqlite:///nope/x.db: "
        f"folder {tmp_path / 'nope'} does not exist"
    )
    env |= {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    served = runner.invoke(cli, ["serve"], env=env)
    assert served.exit_code == 2
    assert one_line(served.output).startswith("baton: BATON_DATABASE_URL: cannot open")


def test_an_unreachable_postgres_is_one_line(runner: CliRunner) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://baton:secret@127.0.0.1:{port}/baton"
    result = runner.invoke(cli, ["db", "upgrade"], env={"BATON_DATABASE_URL": url})
    assert result.exit_code == 2
    line = one_line(result.output)
    assert line.startswith("baton: BATON_DATABASE_URL: cannot connect to postgresql://baton:***@")
    assert "secret" not in line


def test_public_url_must_be_http(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["db", "upgrade"], env={"BATON_PUBLIC_URL": "notaurl"})
    assert result.exit_code == 2
    assert one_line(result.output) == (
        "baton: BATON_PUBLIC_URL is malformed: must be an http(s) URL, "
        "e.g. https://baton.example.com"
    )
    assert load_settings(BATON_PUBLIC_URL="https://baton.example.com/").public_url == (
        "https://baton.example.com"
    )


async def test_an_exported_bot_token_draws_no_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-emulator")  # as in production: in the env
    async with SlackEmulator.default() as emulator:
        settings = make_settings(emulator, f"sqlite:///{tmp_path / 'w.db'}")
        with caplog.at_level(logging.WARNING):
            baton = create_app(settings, clock=ManualClock(START))
        assert [r.getMessage() for r in caplog.records if r.name.startswith("baton")] == []
        # Bolt's client still talks to the configured Web API, with the workspace's token.
        assert baton.bolt.client.base_url == emulator.api_url.rstrip("/") + "/"
        assert baton.bolt.client.token == "xoxb-emulator"
        await baton.runtime.engine.dispose()


# -- 6. the console shows a modal's prefilled values --------------------------------------------


async def test_console_edit_shows_the_current_values(tmp_path: Path) -> None:
    options = ConsoleOptions(database=tmp_path / "console.db", start=START)
    async with open_console(options) as console:
        opened = await console.execute("/baton edit onboarding")
    assert "[modal @alice] Edit workflow" in opened
    assert "Title: [Onboard {hire}]" in opened
    assert "Channel for run cards: [#onboarding]" in opened
    assert "docs: Collect {hire}'s signed documents" in opened
    # Blank only where the workflow has nothing: its (empty) editors and runners lists.
    blank = [line for line in opened.splitlines() if "[____]" in line]
    assert all("Editors" in line or "may start runs" in line for line in blank), blank


# -- typed mentions come back clean: <@U0BOB>, never Slack's raw <@U0BOB|bob> --------------------


async def test_typed_mentions_are_shown_back_clean(stack: Stack) -> None:
    two = "define pair Pair\ndocs: Docs <@U0BOB|bob> <@U0CAROL|carol>"
    await stack.command(two, user="U0ALICE")
    said = stack.ephemeral("U0ALICE")
    assert "the step has two assignees: <@U0BOB> and <@U0CAROL>" in said

    define = (
        "define keys Keys for <@U0BOB|bob>\n"
        'ask: "Ask <@U0CAROL|carol> for keys" {manager}\n'
        "give: Give them <@U0BOB|bob> after ask"
    )
    await stack.command(define, user="U0ALICE")
    assert "Created `keys`" in stack.ephemeral("U0ALICE")
    await stack.command("run keys manager=<@U0BOB|bob> <@U0CAROL|carol>", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").startswith("<@U0CAROL> is not a parameter: write key=value.")
    await stack.command("reassign keys-1 ask <@U0BOB|bob> <@U0CAROL|carol>", user="U0ALICE")
    assert "(<@U0CAROL> is extra)" in stack.ephemeral("U0ALICE")

    await stack.command("schedule keys daily 09:00 manager=<@U0BOB|bob>", user="U0ALICE")
    await stack.command("schedules", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").endswith("by <@U0ALICE> · manager=<@U0BOB>")

    await stack.command("show keys", user="U0ALICE")
    shown = stack.ephemeral("U0ALICE")
    assert '/baton define keys Keys for <@U0BOB>\nask: "Ask <@U0CAROL> for keys"' in shown

    await stack.command("edit keys", user="U0ALICE")
    [modal] = stack.emulator.modals("U0ALICE")
    boxes = {
        block["block_id"]: block["element"].get("initial_value")
        for block in modal.spec["blocks"]
        if block["type"] == "input"
    }
    assert boxes["wf_title"] == "Keys for <@U0BOB>"
    assert boxes["wf_steps"].splitlines()[0] == 'ask: "Ask <@U0CAROL> for keys" {manager}'

    for text in [m.text for m in stack.emulator.ephemerals("U0ALICE")] + [str(modal.spec)]:
        assert "|bob" not in text and "|carol" not in text
