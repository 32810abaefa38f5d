"""`baton console`: scripts fed through the terminal, checked by what it prints and what Baton
stored. The console's clock starts on Monday 2026-11-23 08:00 UTC (09:00 for alice in Berlin,
03:00 for bob in New York, 17:00 for carol in Tokyo) and moves only with `wait`."""

from __future__ import annotations

import hmac
import io
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app.server import start_server
from bot.console.mrkdwn import Reader
from bot.console.repl import run_console
from bot.console.session import ConsoleOptions, open_console
from bot.console.typed_text import escape_typed
from bot.console.waiting import WaitError, wait_target
from bot.core.clock import ManualClock
from bot.slack_emulator import Workspace
from bot.slack_emulator.directory import CHANNELS, USERGROUPS, USERS
from storage.db import create_engine, session_factory, unit_of_work
from storage.models import Run, StepRun
from tests.stack import START

BERLIN = ZoneInfo("Europe/Berlin")


async def piped(tmp_path: Path, script: str) -> str:
    """Everything the console prints for `script` on a piped stdin."""
    out = io.StringIO()
    options = ConsoleOptions(database=tmp_path / "console.db", start=START)
    await run_console(options, stdin=io.StringIO(script), stdout=out)
    return out.getvalue()


def after(text: str, marker: str) -> str:
    assert marker in text, f"{marker!r} not printed"
    return text[text.index(marker) + len(marker) :]


def entry(text: str, header: str) -> str:
    """The first printed entry under `header`: its indented lines."""
    lines = after(text, header + "\n").splitlines()
    body = []
    for line in lines:
        if not line.startswith("  "):
            break
        body.append(line)
    return "\n".join(body)


async def steps_of(database: Path, run_key: str) -> dict[str, StepRun]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        async with unit_of_work(session_factory(engine)) as session:
            run = (await session.exec(select(Run).where(Run.key == run_key))).one()
            rows = (await session.exec(select(StepRun).where(StepRun.run_id == run.id))).all()
    finally:
        await engine.dispose()
    return {row.step_key: row for row in rows}


# -- the whole first minute, piped ---------------------------------------------------------------

ONBOARDING_SCRIPT = """\
# alice (HR) starts the sample workflow and subscribes #onboarding to a digest
/baton run onboarding hire=Erin manager=@dave
/baton digest weekdays 09:00
click 2
as @bob
click 2
click 2
as @carol
wait until tue 18:00
"""


async def test_a_script_runs_the_sample_workflow_to_a_reminder_and_a_digest(
    tmp_path: Path,
) -> None:
    out = await piped(tmp_path, ONBOARDING_SCRIPT)

    # The sample workflow was imported on start, so the first run needs no setup.
    assert "Imported the sample workflow `onboarding`" in out
    card = entry(out, "[#onboarding] Baton:")
    assert card.splitlines()[:3] == [
        "  *Onboard Erin* · `onboarding-1`",
        "  ▱▱▱▱▱▱▱▱▱▱ 0/6 done",
        "  🔔 `docs` Collect Erin's signed documents · @alice · due tomorrow 09:00",
    ]
    assert "Owner @alice · started today 09:00" in card
    alice_dm = entry(out, "[DM @alice] Baton:")
    assert "*Your step:* Collect Erin's signed documents" in alice_dm
    assert alice_dm.endswith("[1] Start  [2] Done  [3] Blocked…  [4] Reassign…")

    # click 2: alice presses Done; her DM is redrawn without buttons, the group is told.
    clicked = after(out, "(@alice clicks “Done”)")
    assert "✅ Done by @alice at 09:00" in entry(clicked, "[DM @alice] Baton (edited):")
    assert "1/6 done" in entry(clicked, "[#onboarding] Baton (edited):")
    # Both ready group steps reach both members, numbered in a stable order.
    bob_first = entry(clicked, "[DM @bob] Baton:")
    assert "Create accounts" in bob_first and bob_first.endswith("[1] Claim")
    bob_second = entry(after(clicked, bob_first), "[DM @bob] Baton:")
    assert "Prepare a laptop" in bob_second and bob_second.endswith("[2] Claim")

    # As bob: claim the laptop step ([2]), then Done; times now show in New York's zone.
    claimed = after(clicked, "(@bob clicks “Claim”)")
    bob_dm = entry(claimed, "[DM @bob] Baton (edited):")
    assert "For @it-team (claimed by @bob)" in bob_dm
    assert bob_dm.endswith("[1] Start  [2] Done  [3] Blocked…  [4] Reassign…")
    assert "Claimed by @bob" in entry(claimed, "[DM @carol] Baton (edited):")
    done = after(claimed, "(@bob clicks “Done”)")
    assert "✅ Done by @bob at 03:00" in entry(done, "[DM @bob] Baton (edited):")
    assert "2/6 done" in entry(done, "[#onboarding] Baton (edited):")

    # As carol, let a day pass: the clock stops at each due moment, shown in carol's zone.
    waited = after(done, "You are @carol (Carol Chen), typing #onboarding.")
    # 80% of `accounts`' day has passed at 03:12 UTC, inside carol's working hours.
    due_soon = after(waited, "── Tue Nov 24, 12:12 in Asia/Tokyo (03:12 UTC) ──\n")
    reminder = entry(due_soon, "[DM @carol] Baton:")
    assert "`accounts` Create accounts" in reminder
    assert reminder.endswith("[1] Snooze 1h  [2] Snooze until tomorrow")
    # Tuesday 09:00 in Berlin (the digest's owner) is 17:00 in Tokyo.
    nine = after(due_soon, "── Tue Nov 24, 17:00 in Asia/Tokyo (08:00 UTC) ──\n")
    digest = entry(nine, "[#onboarding] Baton:")
    assert "digest" in digest.lower()
    assert "`onboarding-1`" in digest and "2/6" in digest
    assert out.rstrip().endswith("It is now Tue Nov 24, 18:00 in Asia/Tokyo (09:00 UTC).")

    steps = await steps_of(tmp_path / "console.db", "onboarding-1")
    assert (steps["docs"].state, steps["docs"].outcome_by) == ("done", "U0ALICE")
    assert (steps["laptop"].state, steps["laptop"].outcome_by) == ("done", "U0BOB")
    assert steps["accounts"].state == "ready"


async def test_typed_lines_become_what_slack_sends(tmp_path: Path) -> None:
    out = await piped(
        tmp_path,
        "in #general\n"
        "/baton define solo Solo task \\\n"
        "only: Do the thing @alice\n"
        "/baton run solo\n"
        "click 2\n"
        "click 2\n",
    )
    # `@alice` reached Baton as Slack's escaped mention, so the definition was accepted.
    assert "Created `solo` (1 step)." in out
    assert "🔔 `only` Do the thing · @alice" in out
    completed = after(out, "(@alice clicks “Done”)")
    assert "✅ Completed in under a minute" in completed
    # The second click is on the message as it was shown: stale, refused, nothing changes.
    stale = after(completed, "(@alice clicks “Done”)")
    assert "[DM @alice, only you] Baton:" in stale
    assert "`solo-1` has completed" in stale
    steps = await steps_of(tmp_path / "console.db", "solo-1")
    assert steps["only"].state == "done"


async def test_buttons_are_pressed_only_by_who_sees_them(tmp_path: Path) -> None:
    options = ConsoleOptions(database=tmp_path / "console.db", start=START)
    async with open_console(options) as console:
        await console.execute("/baton run onboarding hire=Erin manager=@dave")
        await console.execute("as @bob")
        refused = await console.execute("click 2")
        assert refused == (
            "Only @alice sees button [2] ([DM @alice] Baton:). Type `as @alice` first."
        )
        assert await console.execute("click 9") == "Usage: click <n>, n from 1 to 4."
    steps = await steps_of(tmp_path / "console.db", "onboarding-1")
    assert steps["docs"].state == "ready"


async def test_a_modal_is_filled_and_submitted(tmp_path: Path) -> None:
    options = ConsoleOptions(database=tmp_path / "console.db", start=START)
    async with open_console(options) as console:
        await console.execute("/baton run onboarding hire=Erin manager=@dave")
        opened = await console.execute("click 3")
        assert "[modal @alice] Blocked" in opened
        assert "What is in the way?: [____]   ← fill reason …" in opened
        assert "`submit` (Mark blocked) · `close` (Cancel)" in opened

        empty = await console.execute("submit")
        assert "! reason: Please say why." in empty

        filled = await console.execute("fill reason Waiting for <HR> & legal")
        assert filled == "What is in the way?: Waiting for <HR> & legal. `submit` sends the form."
        submitted = await console.execute("submit")
        assert "[modal @alice] Blocked: closed" in submitted
        assert "⛔ Blocked: Waiting for <HR> & legal" in submitted
        assert await console.execute("submit") == "@alice has no modal open."
    steps = await steps_of(tmp_path / "console.db", "onboarding-1")
    assert steps["docs"].state == "blocked"
    assert steps["docs"].blocked_reason == "Waiting for <HR> & legal"


async def test_a_multi_line_field_imports_yaml(tmp_path: Path) -> None:
    out = await piped(
        tmp_path,
        "/baton import\n"
        "fill yaml name: tiny \\\n"
        "title: Tiny \\\n"
        "steps: [{id: one, title: Only step, assignee: U0BOB}]\n"
        "submit\n",
    )
    assert "Workflow YAML: [____]   ← fill wf_yaml …" in out
    assert "[modal @alice] Import workflow: closed" in out
    assert "Created `tiny` (1 step)." in out


async def test_the_app_home_shows_my_open_steps(tmp_path: Path) -> None:
    options = ConsoleOptions(database=tmp_path / "console.db", start=START)
    async with open_console(options) as console:
        await console.execute("/baton run onboarding hire=Erin manager=@dave")
        home = await console.execute("home")
        assert home.startswith("[App Home @alice]")
        assert "Collect Erin's signed documents" in home
        assert "[1] Start  [2] Done" in home
        # Numbers now point at the home's buttons: Done there completes the step.
        done = await console.execute("click 2")
        assert "✅ Done by @alice at 09:00" in done


async def test_switching_people_and_channels(tmp_path: Path) -> None:
    options = ConsoleOptions(database=tmp_path / "console.db", start=START)
    async with open_console(options) as console:
        assert console.prompt == "alice #onboarding> "
        assert "Who is `@zed`? The people here: @alice, @bob, @carol, @dave." in (
            await console.execute("as @zed")
        )
        assert await console.execute("in #ops") == (
            "@alice is not in #ops; its members are @bob, @carol, @dave."
        )
        assert (await console.execute("as @dave")).startswith(
            "You are @dave (Dave Doyle), typing #onboarding. It is Mon Nov 23, 08:00 in "
            "Europe/London (08:00 UTC)."
        )
        await console.execute("in #ops")
        assert console.prompt == "dave #ops> "
        await console.execute("in dm")
        assert console.prompt == "dave in DM with Baton> "
        listed = await console.execute("/baton list")
        assert "[DM @dave, only you] Baton:" in listed
        assert "`onboarding` Onboard {hire}" in listed
        assert "`/remind` is not installed here" in await console.execute("/remind me")
        assert "`dance` is not something the console knows" in await console.execute("dance")
        assert "is not a duration" in await console.execute("wait 3x")
        assert await console.execute("wait until 07:00") == (
            "It is now Tue Nov 24, 07:00 in Europe/London (07:00 UTC)."
        )


def test_console_starts_from_the_cli_and_baton_start_opens_it_without_slack(
    tmp_path: Path,
) -> None:
    script = tmp_path / "demo.txt"
    script.write_text("/baton list\nas @bob\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BATON_"))}
    baton = [sys.executable, "-c", "from bot.app.cli import main; main()"]
    console = subprocess.run(
        [*baton, "console", "--db", str(tmp_path / "c.db"), "--script", str(script)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    # A script's lines are shown after the prompt they were "typed" at.
    assert "\nalice #onboarding> /baton list\n[#onboarding, only you] Baton:" in console.stdout
    assert "\nalice #onboarding> as @bob\nYou are @bob (Bob Baker)" in console.stdout

    started = subprocess.run(
        [*baton, "start"],
        input="quit\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    assert "starting `baton console` instead" in started.stderr
    assert started.stdout.startswith("Baton console:")
    assert (tmp_path / "baton-console.db").exists()


# -- the pure pieces ----------------------------------------------------------------------------


@pytest.fixture
def workspace() -> Workspace:
    return Workspace(
        team_id="T0BATON",
        domain="baton",
        name="Baton",
        bot_token="xoxb",
        bot_user_id="UBATON",
        bot_id="B0",
        app_id="A0",
        users=USERS,
        usergroups=USERGROUPS,
        channels=CHANNELS,
    )


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("run onboarding manager=@dave", "run onboarding manager=<@U0DAVE|dave>"),
        ("laptop: Prep @it-team", "laptop: Prep <!subteam^S0ITTEAM|@it-team>"),
        ("run x #ops, please", "run x <#C0OPS|ops>, please"),
        ("ask @bob.", "ask <@U0BOB|bob>."),
        ("hi @here & <b>", "hi <!here> &amp; &lt;b&gt;"),
        ("mail bob@example.com or @nobody #nowhere", "mail bob@example.com or @nobody #nowhere"),
    ],
)
def test_typed_text_is_escaped_like_slack(workspace: Workspace, typed: str, sent: str) -> None:
    assert escape_typed(typed, workspace) == sent


def test_mrkdwn_reads_as_in_slack(workspace: Workspace) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 22, 30, tzinfo=UTC))  # 23:30 in Berlin
    reader = Reader(workspace, BERLIN, clock)
    moment = int(datetime(2026, 11, 24, 8, 0, tzinfo=UTC).timestamp())
    text = (
        f"<@U0ALICE> and <!subteam^S0ITTEAM|@it-team> in <#C0OPS>: due "
        f"<!date^{moment}^{{date_short_pretty}} {{time}}|fallback> · "
        f"<!date^{moment}^{{date_long}}|x> · <https://example.com|docs> &lt;b&gt; &amp;"
    )
    assert reader.text(text) == (
        "@alice and @it-team in #ops: due tomorrow 09:00 · Tuesday, November 24th, 2026 · "
        "docs (https://example.com) <b> &"
    )
    assert reader.lines("Plan\n```1. a\n2. b```\nend") == ["Plan", "    1. a", "    2. b", "end"]


@pytest.mark.parametrize(
    ("words", "local"),
    [
        ("2h", datetime(2026, 11, 23, 11, 0)),
        ("1d 4h", datetime(2026, 11, 24, 13, 0)),
        ("until 10:00", datetime(2026, 11, 23, 10, 0)),
        ("until 08:00", datetime(2026, 11, 24, 8, 0)),
        ("until mon 09:00", datetime(2026, 11, 30, 9, 0)),
        ("until monday 09:30", datetime(2026, 11, 23, 9, 30)),
        ("until fri 17:00", datetime(2026, 11, 27, 17, 0)),
        ("until tomorrow 9:00", datetime(2026, 11, 24, 9, 0)),
        ("until 2026-12-24 18:00", datetime(2026, 12, 24, 18, 0)),
    ],
)
def test_wait_reads_moments_in_my_zone(words: str, local: datetime) -> None:
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
    assert wait_target(words, now, BERLIN) == local.replace(tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ("", "is not a duration"),
        ("3x", "is not a duration"),
        ("until mon", "Say the time too"),
        ("until 24:00", "is not a time of day"),
        ("until someday 09:00", "is not a day"),
        ("until today 08:00", "has passed"),
        ("60w", "more than a year"),
    ],
)
def test_wait_says_what_to_write(words: str, problem: str) -> None:
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    with pytest.raises(WaitError, match=problem):
        wait_target(words, now, BERLIN)


async def test_a_second_session_keeps_business_time_moving_forward(tmp_path: Path) -> None:
    database = tmp_path / "console.db"
    await piped(tmp_path, "/baton run onboarding hire=Erin manager=@dave\nwait until wed 10:00\n")
    # Started "earlier" than where the first session's last reminder fired: the clock resumes.
    later = ConsoleOptions(database=database, start=START)
    async with open_console(later) as console:
        assert console.clock.now() >= datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
        assert "holds 1 active run(s) from an earlier session" in console.intro
        assert "Imported the sample" not in console.intro
    fresh = ConsoleOptions(database=database, start=START, fresh=True)
    async with open_console(fresh) as console:
        assert console.clock.now() == START
        assert "Imported the sample workflow `onboarding`" in console.intro


# -- a hook answering 202 calls back to the console's own port -----------------------------------


async def test_a_hook_that_answers_202_calls_back_to_the_console(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    async def accept(request: Request) -> Response:
        calls.append(json.loads(await request.body()))
        return JSONResponse({"status": "accepted"}, status_code=202)

    receiver = await start_server(Starlette(routes=[Route("/", accept, methods=["POST"])]))
    options = ConsoleOptions(database=tmp_path / "console.db", start=START)
    try:
        async with open_console(options) as console:
            await console.execute("as @dave")
            added = await console.execute(
                f"/baton hook add deploy http://127.0.0.1:{receiver.port}/"
            )
            secret = re.search(r"(bsec_\S+)", added)
            assert secret is not None, added
            await console.execute("/baton define ship Ship it\npush: Deploy hook:deploy")
            await console.execute("/baton run ship")
            await console.execute("wait 1m")  # the sweep makes the call
            assert len(calls) == 1
            callback = calls[0]["callback_url"]
            assert callback.startswith(f"http://127.0.0.1:{console.server.port}/"), callback

            body = json.dumps({"status": "done", "output": {"version": "1.2"}}).encode()
            stamp = str(int(time.time()))
            mac = hmac.new(secret.group(1).encode(), stamp.encode() + b"." + body, "sha256")
            headers = {"X-Baton-Timestamp": stamp, "X-Baton-Signature": f"v1={mac.hexdigest()}"}
            async with httpx.AsyncClient() as client:
                answered = await client.post(callback, content=body, headers=headers)
            assert answered.status_code == 200, answered.text
            await console.execute("wait 1m")
    finally:
        await receiver.stop()
    assert (await steps_of(tmp_path / "console.db", "ship-1"))["push"].state == "done"


async def test_edit_of_a_long_workflow_shows_a_box_for_each_part_of_its_steps(
    tmp_path: Path,
) -> None:
    steps = "\n".join(
        f"s{n:03d}: Check part {n} of the launch plan with the owners and sign it off "
        f"before it goes to the printers @bob" + (f" after s{n - 1:03d}" if n > 1 else "")
        for n in range(1, 101)
    )
    options = ConsoleOptions(database=tmp_path / "console.db", start=START)
    async with open_console(options) as console:
        defined = await console.execute(f"/baton define launch Launch\n{steps}")
        assert "Created `launch` (100 steps)" in defined
        opened = await console.execute("/baton edit launch")
    assert "[modal @alice] Edit workflow" in opened
    boxes = re.findall(r"Steps[^:]*\(box (\d+) of (\d+)\): \[(.*)\]   ← fill (\S+) …", opened)
    count = len(boxes)
    assert count > 1
    assert [(n, of, key) for n, of, _, key in boxes] == [
        (str(n), str(count), "wf_steps" if n == 1 else f"wf_steps_{n}") for n in range(1, count + 1)
    ]
    shown = " ↵ ".join(text for _, _, text, _ in boxes)
    assert shown.count("Check part") == 100
    assert "s001: Check part 1 " in shown and "s100: Check part 100 " in shown
