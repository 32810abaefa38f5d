"""Replies to `/baton` commands as a person sees them: long answers split over several sections
and summarised rather than cut, typed text escaped, and arguments checked before they reach
the database."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from bench.digest import seed
from bot.language import format_yaml
from bot.render import blocks as kit
from bot.slack.text import clip, escape, when
from bot.slack_emulator import Message, check_blocks
from bot.work import Work
from bot.workflows import definitions as workflows
from handlers.requests import slack_unescape
from storage.db import session_factory, unit_of_work
from storage.models import Run
from tests.messages import block_texts, next_command, shown, status_keys
from tests.stack import Stack
from tests.workflows import hundred_steps

FENCE = "```"
CODE = re.compile(r"```(.*?)```", re.DOTALL)
# A Slack token (<@U…>, <#C…>, <!date^…|…>) cut before its end.
OPEN_TOKEN = re.compile(r"<[^<>]*$|<[^<>]*<")


def assert_well_formed(message: Message) -> None:
    """Every section closes its code blocks and its Slack tokens."""
    for text in block_texts(message):
        assert text.count(FENCE) % 2 == 0, text
        assert OPEN_TOKEN.search(text) is None, text


def long_workflow(name: str = "quarterly", steps: int = 40) -> str:
    """A chain of steps, as Slack sends it: `&` arrives as `&amp;`."""
    lines = [f"define {name} Quarterly report"]
    for n in range(1, steps + 1):
        after = f" after s{n - 1:02d}" if n > 1 else ""
        lines.append(
            f"s{n:02d}: Prepare section {n} of the quarterly report &amp; its charts "
            f"<@U0BOB|bob>{after} due 1d"
        )
    return "\n".join(lines)


# -- the pieces, on any text (pure) -----------------------------------------------------------

TYPED_TEXT = st.text(alphabet=st.sampled_from(list("ab &<>;\n`é")), max_size=400).map(escape)
QUICK = settings(max_examples=300, deadline=None)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@QUICK
@given(TYPED_TEXT, st.integers(min_value=8, max_value=60))
def test_split_text_joins_back_and_never_cuts_an_entity(text: str, size: int) -> None:
    pieces = kit.split_text(text, size)
    assert "".join(pieces) == text
    assert all(len(piece) <= size for piece in pieces)
    for piece in pieces[:-1]:
        assert re.search(r"&[a-z]*$", piece) is None  # "&am" | "p;" would show as text


@QUICK
@given(TYPED_TEXT, st.integers(min_value=10, max_value=120))
def test_clip_closes_what_it_cuts(text: str, limit: int) -> None:
    framed = f"{FENCE}{text} {when(NOW)} {text}{FENCE}"
    cut = clip(framed, limit)
    assert len(cut) <= limit
    assert cut.count(FENCE) % 2 == 0
    assert OPEN_TOKEN.search(cut) is None and re.search(r"&[a-z]*…", cut) is None


@QUICK
@given(
    st.lists(TYPED_TEXT.map(lambda text: text.replace("\n", "") * 20), max_size=60),
    st.integers(min_value=1, max_value=6),
)
def test_code_listing_fits_closes_and_counts(lines: list[str], max_blocks: int) -> None:
    dicts = kit.code_listing(lines, "…and {} more".format, max_blocks=max_blocks)
    assert check_blocks(dicts) == [] and len(dicts) <= max_blocks
    texts = [block["text"]["text"] for block in dicts]
    assert all(text.count(FENCE) % 2 == 0 for text in texts)
    bodies = [text.split("\n…and")[0] for text in texts]
    assert all(CODE.fullmatch(body) for body in bodies)
    left = re.search(r"…and (\d+) more$", texts[-1]) if texts else None
    shown = sum(body.count("\n") + 1 for body in bodies)
    assert shown + (int(left[1]) if left else 0) == len(lines)


# -- long replies ---------------------------------------------------------------------------


async def test_export_of_a_long_workflow_comes_in_parts_that_join_to_the_yaml(
    stack: Stack,
) -> None:
    await stack.command(long_workflow(), user="U0ALICE")
    await stack.command("export quarterly", user="U0ALICE")
    reply = stack.answer()
    texts = block_texts(reply)
    parts = [CODE.fullmatch(text) for text in texts if text.startswith(FENCE)]
    assert len(parts) >= 2, "one section holds 3000 characters: the YAML needs several"
    _, defn = await workflows.get_definition(stack.baton.runtime, "T0BATON", "quarterly")
    yaml_text = format_yaml(defn).rstrip("\n")
    assert len(yaml_text) > 3000
    codes = [part.group(1) for part in parts if part is not None]
    assert slack_unescape("\n".join(codes)) == yaml_text
    assert "report &amp; its charts" in codes[0] and "report & its" not in shown(reply)
    assert f"in {len(codes)} parts" in shown(reply)


async def test_export_splits_a_line_too_long_for_one_section(stack: Stack) -> None:
    # No spaces: YAML cannot fold it, so the export cuts the line.
    description = "".join(["Every-quarter-&amp;-every-year-<b>."] * 100)[:2990]
    await stack.command("import", user="U0ALICE")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None
    yaml_in = (
        f'name: notes\ntitle: Notes\ndescription: "{description}"\n'
        "steps:\n  - {id: write, title: Write them, assignee: U0BOB}\n"
    )
    response = await stack.driver.submit_view(
        modal, user="U0ALICE", values={"wf_yaml": {"text": yaml_in}}
    )
    assert stack.driver.view_errors(response) is None
    await stack.settle()
    await stack.command("export notes", user="U0ALICE")
    reply = stack.answer()
    # Escaped, the description's one line is longer than a section: it goes on in the next.
    texts = [text for text in block_texts(reply) if text.startswith(FENCE)]
    assert len(texts) >= 2
    joined = ""
    for text in texts:
        code = CODE.match(text)
        assert code is not None
        joined += code.group(1) + ("" if "goes on in the next part" in text else "\n")
    _, defn = await workflows.get_definition(stack.baton.runtime, "T0BATON", "notes")
    assert slack_unescape(joined.rstrip("\n")) == format_yaml(defn, fold=500).rstrip("\n")


async def test_show_of_a_long_workflow_closes_each_code_block(stack: Stack) -> None:
    await stack.command(long_workflow(), user="U0ALICE")
    await stack.command("show quarterly", user="U0ALICE")
    reply = stack.answer()
    assert_well_formed(reply)
    text = shown(reply)
    for n in range(1, 41):
        assert f"s{n:02d}: Prepare section {n} of the quarterly report &amp; its charts" in text
    assert "→ s39 → s40 (5w5d)" in text  # the plan's critical path, after all the steps
    assert "By the plan: 5w5d" in text
    assert "/baton edit quarterly" in text


async def test_status_lists_every_active_run_without_cutting_a_token(stack: Stack) -> None:
    steps = "\n".join(f"p{n}: Check printer {n} <@U0BOB|bob> due {n}d" for n in range(1, 7))
    await stack.command(f"define printers Printer rounds\n{steps}", user="U0ALICE")
    for _ in range(8):
        await stack.command("run printers", user="U0ALICE")
    await stack.command("status", user="U0ALICE")
    reply = stack.answer()
    assert_well_formed(reply)
    text = shown(reply)
    for n in range(1, 9):
        assert f"`printers-{n}`" in text
    # Five open steps a run, then where to see the rest of them.
    assert text.count("`p5`") == 8 and "`p6`" not in text
    assert text.count("…and 1 more open step: `/baton status printers-") == 8
    assert len(reply.blocks) > 1


async def test_status_pages_through_sixty_runs_showing_each_once_in_order(stack: Stack) -> None:
    await seed(stack.baton.runtime.engine, active=60, completed=0, now=stack.clock.now())
    async with unit_of_work(session_factory(stack.baton.runtime.engine)) as session:
        runs = (await session.exec(select(Run).order_by(col(Run.created_at), col(Run.id)))).all()
    oldest_first = [run.key for run in runs]

    await stack.command("status", user="U0ALICE")
    pages = [stack.answer()]
    while (command := next_command(pages[-1])) is not None:
        announced = int(re.findall(r"shows the next (\d+)\.", shown(pages[-1]))[0])
        await stack.command(command, user="U0ALICE")
        pages.append(stack.answer())
        assert len(status_keys(pages[-1])) == announced  # "the next 20" are 20
    assert [next_command(page) for page in pages[:-1]] == ["status 2", "status 3"]
    for number, page in enumerate(pages, start=1):
        assert_well_formed(page)
        text = shown(page)
        first = (number - 1) * 20 + 1
        assert text.startswith(f"*Active runs here* · {first}–{first + 19} of 60\n")
        assert "more active runs" not in text  # nothing summarised away
    assert [key for page in pages for key in status_keys(page)] == oldest_first

    await stack.command("status 4", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").startswith(
        "There is no page `4`: the 60 active runs here fill pages 1 to 3.\n"
        "Usage: `/baton status [run-id | page]`"
    )
    await stack.command("status 0", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").startswith("There is no page `0`: the 60 active runs")
    await stack.command("status soon", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").startswith(
        "`soon` is neither a run id (they look like `onboarding-3`) nor a page number.\n"
    )
    await stack.command("status 2 3", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").startswith("`3` is one word too many.\n")
    await stack.command("status 2", user="U0ALICE", channel="C0OPS")
    assert stack.ephemeral("U0ALICE").startswith("No active runs in this channel.")


async def test_a_channel_that_fits_on_one_page_has_no_paging(stack: Stack) -> None:
    await stack.command("define tiny Tiny\nonly: Only step <@U0BOB|bob>", user="U0ALICE")
    for _ in range(20):
        await stack.command("run tiny", user="U0ALICE")
    await stack.command("status", user="U0ALICE")
    reply = stack.answer()
    assert shown(reply).startswith("*Active runs here*\n")
    assert status_keys(reply) == [f"tiny-{n}" for n in range(1, 21)]
    assert next_command(reply) is None
    await stack.command("status 2", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").startswith(
        "There is no page `2`: the 20 active runs here fit on page 1."
    )


async def test_history_of_a_long_run_keeps_its_newest_events(stack: Stack) -> None:
    chain = "\n".join(
        f"s{n:02d}: Step {n} <@U0ALICE|alice>" + (f" after s{n - 1:02d}" if n > 1 else "")
        for n in range(1, 36)
    )
    await stack.command(f"define chain Chain\n{chain}", user="U0ALICE")
    await stack.command("run chain", user="U0ALICE")
    for n in range(1, 36):
        await stack.command(f"done chain-1 s{n:02d}", user="U0ALICE")
    await stack.command("history chain-1", user="U0ALICE")
    reply = stack.answer()
    assert_well_formed(reply)
    text = shown(reply)
    mentioned = re.findall(r"`(s\d\d)`", text)
    assert mentioned[-1] == "s35"  # the newest events are there
    assert set(mentioned) == {f"s{n:02d}" for n in range(1, 36)}
    assert re.search(r"Run completed in .+$", text.rstrip())
    assert "<@U0ALICE> started the run" in text
    assert "<@U0ALICE> marked `s35` done" in text
    assert "step.done" not in text and "run.started" not in text
    assert "older" not in text  # everything fitted
    assert len(reply.blocks) > 1


async def test_history_pages_through_300_events_showing_each_once_in_order(
    stack: Stack,
) -> None:
    await stack.command("define solo Solo\nonly: Only step <@U0ALICE|alice>", user="U0ALICE")
    await stack.command("run solo", user="U0ALICE")
    sessions = session_factory(stack.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        run = (await session.exec(select(Run).where(Run.key == "solo-1"))).one()
        work = Work(session, stack.clock.now())
        for n in range(300):
            work.audit(
                team_id="T0BATON",
                actor_id="U0ALICE",
                action="step.block",
                run_id=run.id,
                step_key="only",
                reason=f"note {n:03d} <!channel> " + "waiting on the vendor " * 40,
            )
    await stack.command("done solo-1 only", user="U0ALICE")  # 303 events in all

    await stack.command("history solo-1", user="U0ALICE")
    pages = [stack.answer()]
    while (command := next_command(pages[-1])) is not None:
        announced = int(re.findall(r"shows the (\d+) events? before these", shown(pages[-1]))[0])
        await stack.command(command, user="U0ALICE")
        pages.append(stack.answer())
        assert len(history_events(pages[-1])) == announced  # "the 40 before these" are 40
    assert [next_command(page) for page in pages[:-1]] == [
        f"history solo-1 {n}" for n in range(2, 9)
    ]
    for number, page in enumerate(pages, start=1):
        assert_well_formed(page)
        text = shown(page)
        stop = 303 - (number - 1) * 40
        assert text.startswith(f"*History of `solo-1`* · events {max(1, stop - 39)}–{stop} of 303")
        assert page.text == f"History of `solo-1`: events {max(1, stop - 39)}–{stop} of 303."
        assert "<!channel>" not in text and "&lt;!channel&gt;" in text
        if number > 1:
            assert f"`/baton history solo-1 {number - 1}` the 40 events after them." in text
    # Newest first page by page, oldest first within a page: read backwards, the whole story.
    story = [line for page in reversed(pages) for line in history_events(page)]
    assert len(story) == 303
    assert "<@U0ALICE> started the run" in story[0]
    notes = [re.search(r"marked `only` blocked: note (\d{3})", line) for line in story[1:301]]
    assert [int(found[1]) for found in notes if found] == list(range(300))
    assert "<@U0ALICE> marked `only` done" in story[301]
    assert re.search(r"Run completed in .+$", story[302])

    for word, problem in [
        ("9", "There is no page `9`"),
        ("0", "There is no page `0`"),
        ("older", "`older` is not a page number"),
    ]:
        await stack.command(f"history solo-1 {word}", user="U0ALICE")
        assert stack.ephemeral("U0ALICE").startswith(
            f"{problem}: the 303 events of `solo-1` fill pages 1 to 8.\n"
            "Usage: `/baton history &lt;run-id&gt; [page]`"
        )
    await stack.command("history solo-1 2 3", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").startswith("`3` is one word too many.\n")


def history_events(message: Message) -> list[str]:
    """The event lines of a page of `/baton history`, in order."""
    return [line for line in shown(message).split("\n") if line.startswith("<!date^")]


# -- the builder ------------------------------------------------------------------------------
def step_boxes(modal_blocks: list[dict[str, object]]) -> dict[str, str]:
    """The builder's boxes of steps, by block id, with what they hold."""
    boxes = {}
    for block in modal_blocks:
        block_id = str(block.get("block_id", ""))
        if block_id == "wf_steps" or block_id.startswith("wf_steps_"):
            element = block["element"]
            assert isinstance(element, dict)
            boxes[block_id] = str(element.get("initial_value", ""))
    return boxes


async def test_edit_of_a_hundred_steps_spreads_them_over_boxes_and_saves_them_all(
    stack: Stack,
) -> None:
    await stack.command(hundred_steps(), user="U0ALICE")
    _, before = await workflows.get_definition(stack.baton.runtime, "T0BATON", "launch")
    assert len(before.steps) == 100
    await stack.command("edit launch", user="U0ALICE")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None and modal.spec["title"]["text"] == "Edit workflow"
    assert check_blocks(modal.blocks) == []
    boxes = step_boxes(modal.blocks)
    assert len(boxes) > 1 and all(len(text) <= 3000 for text in boxes.values())
    lines = "\n".join(boxes.values()).split("\n")
    assert [line.split(":")[0] for line in lines] == [f"s{n:03d}" for n in range(1, 101)]

    # A mistake is shown next to the box that has it, with the line counted in that box.
    box, text = next((b, t) for b, t in boxes.items() if "s061: Check part 61 " in t)
    assert box != "wf_steps"
    line = text.split("\n").index(next(x for x in text.split("\n") if x.startswith("s061:")))
    wrong = text.replace(" after s060 ", " after s600 ")
    response = await stack.driver.submit_view(modal, user="U0ALICE", values={box: wrong})
    errors = stack.driver.view_errors(response)
    assert errors is not None and list(errors) == [box], errors
    assert errors[box].startswith(f"line {line + 1} (step s061): after names unknown step")

    # One title changed, in the box that holds it; the other boxes sent back as they are.
    changed = text.replace("s061: Check part 61 of", "s061: Recheck part 61 of")
    response = await stack.driver.submit_view(
        modal, user="U0ALICE", values={box: {"text": changed}}
    )
    assert stack.driver.view_errors(response) is None
    await stack.settle()
    workflow, after = await workflows.get_definition(stack.baton.runtime, "T0BATON", "launch")
    assert workflow.latest_version == 2
    assert len(after.steps) == 100
    assert after.steps[60].title.startswith("Recheck part 61 of the launch plan")
    expected = [
        replace(step, title=after.steps[60].title) if step.id == "s061" else step
        for step in before.steps
    ]
    assert list(after.steps) == expected
    assert after.steps[99].after == ("s050", "s098", "s099")
    assert after.steps[1].after == ("s001",)


async def test_edit_refuses_only_a_step_line_no_box_can_hold(stack: Stack) -> None:
    ids = [f"s{n:02d}-" + "x" * 36 for n in range(1, 100)]
    lines = [f"{step}: Step {n} <@U0BOB|bob>" for n, step in enumerate(ids, start=1)]
    lines.append(f"last: Last step <@U0BOB|bob> after {', '.join(ids)}")
    await stack.command("define wide Wide\n" + "\n".join(lines), user="U0ALICE")
    assert "Created `wide`" in stack.ephemeral("U0ALICE")
    await stack.command("edit wide", user="U0ALICE")
    assert stack.emulator.open_view("U0ALICE") is None, "no builder that would lose steps"
    reply = stack.answer().text
    assert "too long for the builder: one of its step lines has 4," in reply
    assert "a box of the builder holds 3,000" in reply
    assert "/baton export wide" in reply and "/baton define wide" in reply

    await stack.command(long_workflow("short", steps=10), user="U0ALICE")
    await stack.command("edit short", user="U0ALICE")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None and modal.spec["title"]["text"] == "Edit workflow"
    assert list(step_boxes(modal.blocks)) == ["wf_steps"]


async def test_new_refuses_a_name_that_exists(stack: Stack) -> None:
    await stack.command("define onboarding Onboard\ndocs: Docs <@U0BOB|bob>", user="U0ALICE")
    await stack.command("new onboarding", user="U0ALICE")
    assert stack.emulator.open_view("U0ALICE") is None
    assert (
        stack.answer().text == "`onboarding` already exists: `/baton edit onboarding` changes it."
    )

    await stack.command("delete onboarding", user="U0ALICE")
    await stack.command("new onboarding", user="U0ALICE")  # archived: the name is free again
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None and modal.spec["title"]["text"] == "New workflow"


# -- escaping ---------------------------------------------------------------------------------

TYPED = "define t1 Hello <!channel> &amp; &lt;b&gt;\na: Read &lt;i&gt; &amp; sign <@U0BOB|bob>"


async def test_typed_titles_are_shown_escaped(stack: Stack) -> None:
    await stack.command(TYPED, user="U0ALICE")
    await stack.command("list", user="U0ALICE")
    listed = stack.answer()
    for text in [listed.text, shown(listed)]:
        assert "Hello &lt;!channel&gt; &amp; &lt;b&gt;" in text
        assert "<!channel>" not in text and "<b>" not in text

    await stack.command("show t1", user="U0ALICE")
    reply = stack.answer()
    assert_well_formed(reply)
    for text in [reply.text, shown(reply)]:
        assert "*Hello &lt;!channel&gt; &amp; &lt;b&gt;*" in text
        assert "a: Read &lt;i&gt; &amp; sign <@U0BOB>" in text  # the mention stays a mention
        assert "<!channel>" not in text and "<i>" not in text


@pytest.mark.parametrize(
    ("command", "echo"),
    [
        ("show a&amp;b&lt;c&gt;", "`a&amp;b&lt;c&gt;`"),
        ("export a&amp;b&lt;c&gt;", "`a&amp;b&lt;c&gt;`"),
        ("delete a&amp;b&lt;c&gt;", "`a&amp;b&lt;c&gt;`"),
        ("edit a&amp;b&lt;c&gt;", "`a&amp;b&lt;c&gt;`"),
        ("run a&amp;b&lt;c&gt;", "`a&amp;b&lt;c&gt;`"),
        ("new <!channel>", "`&lt;!channel&gt;`"),
        ("define x&amp;y", "`x&amp;y`"),
        ("schedule <!here> daily 09:00", "`&lt;!here&gt;`"),
        ("run t1 by <!channel>", "`by &lt;!channel&gt;`"),
        ("run t1 <!channel>=x", "`&lt;!channel&gt;`"),
        ("status <!channel>", "`&lt;!channel&gt;`"),
        ("history <b>", "`&lt;b&gt;`"),
        ("cancel <!here> now", "`&lt;!here&gt;`"),
        ("done t1-1 <!channel>", "`&lt;!channel&gt;`"),
        ("away <!channel>", "`&lt;!channel&gt;`"),
        ("hours <!channel>", "`&lt;!channel&gt;`"),
    ],
)
async def test_typed_arguments_are_echoed_escaped(stack: Stack, command: str, echo: str) -> None:
    await stack.command(TYPED, user="U0ALICE")
    await stack.command("run t1", user="U0ALICE")
    await stack.command(command, user="U0ALICE")
    reply = stack.answer().text
    assert echo in reply, reply
    assert not re.search(r"<(?!@U0|#C0)", reply.replace("<@U0ALICE>", "")), reply
    assert "Something went wrong" not in reply


# -- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "says"),
    [
        ("99999999999999999999999", "There is no schedule 99999999999999999999999"),
        ("2147483648", "There is no schedule 2147483648"),
        ("9" * 5000, "There is no schedule 999"),
        ("²", "Give the schedule's number"),
        ("-1", "Give the schedule's number"),
    ],
)
async def test_unschedule_takes_any_number_calmly(stack: Stack, number: str, says: str) -> None:
    await stack.command(f"unschedule {number}", user="U0ALICE")
    reply = stack.answer().text
    assert says in reply
    assert "Something went wrong" not in reply


# -- descriptions and wording -----------------------------------------------------------------


async def test_show_has_the_description_and_list_stays_compact(stack: Stack) -> None:
    await stack.command("import", user="U0ALICE")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None
    yaml_in = (
        "name: review\ntitle: Review\ndescription: |\n  Every <quarter> & each release.\n"
        "  Ask #ops first.\nsteps:\n  - {id: read, title: Read it, assignee: U0BOB}\n"
    )
    response = await stack.driver.submit_view(
        modal, user="U0ALICE", values={"wf_yaml": {"text": yaml_in}}
    )
    assert stack.driver.view_errors(response) is None
    await stack.settle()
    await stack.command("show review", user="U0ALICE")
    text = shown(stack.answer())
    assert "Every &lt;quarter&gt; &amp; each release.\nAsk #ops first." in text
    await stack.command("list", user="U0ALICE")
    listed = shown(stack.answer())
    assert "`review` Review" in listed and "quarter" not in listed


async def test_counts_read_as_english(stack: Stack) -> None:
    await stack.command("define one One\nonly: Only step <@U0BOB|bob>", user="U0ALICE")
    assert "Created `one` (1 step)." in stack.answer().text
    await stack.command("define one One\na: A <@U0BOB|bob>\nb: B <@U0BOB|bob>", user="U0ALICE")
    assert "Saved version 2 of `one` (2 steps)." in stack.answer().text

    await stack.command("new solo", user="U0ALICE")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None
    response = await stack.driver.submit_view(
        modal,
        user="U0ALICE",
        values={"wf_title": {"text": "Solo"}, "wf_steps": {"text": "only: Only step @bob"}},
    )
    assert stack.driver.view_errors(response) is None
    await stack.settle()
    assert "Created `solo` (1 step)." in stack.last_dm("U0ALICE").text
