"""`/baton define | list | show | delete | restore | export`."""

from __future__ import annotations

from dataclasses import replace

from bot.commands import check_workflow_name, quoted, usage_error
from bot.digests.forecast import forecast_definition, forecast_text
from bot.language import (
    WorkflowDef,
    describe_plan,
    format_header,
    format_steps,
    format_yaml,
    make_plan,
    parse_text,
)
from bot.notify.replies import Reply
from bot.people.channel_access import require_member
from bot.people.permissions import Actor, describe_access, require_editor
from bot.render.blocks import (
    MESSAGE_BLOCKS,
    SECTION_TEXT,
    Block,
    checked,
    code_listing,
    context,
    fallback,
    fence_safe,
    listing,
    section,
    split_text,
)
from bot.runtime import Runtime
from bot.slack.text import FENCE, echo, escape, plural
from bot.workflows import definitions as workflows
from handlers.requests import SlashRequest

PLAN_BLOCKS = 5  # a plan of 100 steps in parallel groups still fits
GOES_ON = "_this line goes on in the next part_"
EXPORT_PART = SECTION_TEXT - 2 * len(FENCE) - len(GOES_ON) - 1
# Long texts are folded into YAML lines this long, so parts end where lines end and paste
# back into `/baton import <parts>`'s boxes; escaping for Slack may make a line 5 times longer.
EXPORT_FOLD = EXPORT_PART // 6


def _name_arg(request: SlashRequest, command: str) -> str:
    args = request.command.args
    if not args:
        raise usage_error(command, "Which workflow? Give its name.")
    return check_workflow_name(command, args[0])


def _text_lines(defn: WorkflowDef) -> list[str]:
    """The whole `define` command that makes `defn` again: its first line, the header lines,
    a line a step; typed text (title, description, step titles) escaped, mentions left as
    the mentions they are, so what Slack shows is what to paste."""
    header = [
        echo(line) if line.startswith("description") else line for line in format_header(defn)
    ]
    return [f"/baton define {defn.name} {echo(defn.title)}", *header, *_step_lines(defn)]


def _step_lines(defn: WorkflowDef) -> list[str]:
    """The text form, a line a step, with each typed title escaped and assignees left as the
    mentions they are."""
    lines = []
    for step in defn.steps:
        line = format_steps(replace(defn, steps=(step,)))[0]
        bare = format_steps(replace(defn, steps=(replace(step, title="x"),)))[0]
        clauses = bare[len(f"{step.id}: x") :]  # what follows the title, the same for both
        lines.append(echo(line[: len(line) - len(clauses)]) + clauses)
    return lines


def _plan_blocks(defn: WorkflowDef, heading: str | None = None) -> list[Block]:
    plan = describe_plan(make_plan(defn), defn).splitlines()
    more = "…and {} more lines of plan".format
    return code_listing(plan, more, max_blocks=PLAN_BLOCKS, heading=heading)


async def define(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    name, _, title = request.command.rest.partition(" ")
    if not name:
        raise usage_error("define", "Give the workflow a name, then its steps on the next lines.")
    if not request.command.body.strip():
        raise usage_error(
            "define", f"{quoted(name)} has no steps: write one step per line after the first line."
        )
    # A new version keeps what its text does not say (no description or channel line) and
    # the title unless one is given.
    current = await workflows.current_definition(runtime, request.team_id, name.lower())
    defn = parse_text(
        name.lower(),
        title.strip() or (current.title if current else name),
        request.command.body,
        description=current.description if current else "",
        channel=current.channel if current else None,
    )
    if defn.channel and defn.channel not in (request.channel_id, current and current.channel):
        # Run cards will post there for whoever runs it: its maker must be in it, as in the
        # builder.
        await require_member(
            runtime,
            team_id=request.team_id,
            user_id=request.user_id,
            channel_id=defn.channel,
            fix="Join it first, or name a channel you are in.",
        )
    result = await workflows.define(runtime, actor, defn)
    verb = "Created" if result.created else f"Saved version {result.version} of"
    saved = f"{verb} `{defn.name}` ({plural(len(defn.steps), 'step')})."
    plan = describe_plan(make_plan(defn), defn)
    start = (
        f"Start it with `/baton run {defn.name}"
        + "".join(f" {p.name}=…" for p in defn.params if p.required)
        + "`"
    )
    blocks = [section(saved), *_plan_blocks(defn), section(start)]
    return Reply(fallback(f"{saved}\n```{plan}```\n{start}", saved), checked(blocks))


async def list_workflows(runtime: Runtime, request: SlashRequest) -> Reply:
    rows = await workflows.list_workflows(runtime, request.team_id)
    if not rows:
        text = "No workflows yet. Create one with `/baton define` (see `/baton help example`)."
        return Reply(text)
    lines = [
        f"• `{wf.name}` {escape(title)} (v{wf.latest_version}, owner <@{wf.owner_id}>)"
        for wf, title in rows
    ]
    heading = "*Workflows*"
    more = "…and {} more workflows: `/baton show &lt;name&gt;` shows any one.".format
    blocks = listing(lines, len(lines), str, more, max_blocks=MESSAGE_BLOCKS, heading=heading)
    return Reply(fallback("\n".join([heading, *lines]), heading), blocks)


async def show(runtime: Runtime, request: SlashRequest) -> Reply:
    name = _name_arg(request, "show")
    workflow, defn = await workflows.get_definition(runtime, request.team_id, name)
    head = (
        f"*{escape(defn.title)}* · `{defn.name}` v{workflow.latest_version} · "
        f"owner <@{workflow.owner_id}>\n{describe_access(workflow)}"
    )
    about = [section(escape(defn.description))] if defn.description else []
    steps = _text_lines(defn)
    plan = _plan_blocks(defn, heading="*Plan*")
    forecast = forecast_text(await forecast_definition(runtime, request.team_id, workflow, defn))
    ending = [
        section(f"*Forecast*\n{forecast}"),
        context(f"Edit with `/baton edit {defn.name}`; run with `/baton run {defn.name}`"),
    ]
    room = MESSAGE_BLOCKS - 1 - len(about) - len(plan) - len(ending)
    more = f"…and {{}} more lines: `/baton export {defn.name}` (for its editors) has them all."
    blocks = [
        section(head),
        *about,
        *code_listing(steps, more.format, max_blocks=room),
        *plan,
        *ending,
    ]
    text = "\n".join(
        [
            head,
            *([escape(defn.description)] if defn.description else []),
            FENCE + "\n".join(steps) + FENCE,
            "*Plan*",
            FENCE + describe_plan(make_plan(defn), defn) + FENCE,
            "*Forecast*",
            forecast,
        ]
    )
    return Reply(fallback(text, head), checked(blocks))


async def delete(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    name = _name_arg(request, "delete")
    archived = await workflows.archive(runtime, actor, name)
    paused = archived.schedules
    schedules = (
        f" Its {plural(paused, 'schedule')} {'is' if paused == 1 else 'are'} paused."
        if paused
        else ""
    )
    return Reply(
        f"Archived `{name}`. Runs already going carry on; no new runs can start.{schedules} "
        f"`/baton restore {name}` brings it back."
    )


async def restore(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    name = _name_arg(request, "restore")
    restored = await workflows.restore(runtime, actor, name)
    count = restored.schedules
    schedules = (
        f" Its {plural(count, 'schedule')} {'runs' if count == 1 else 'run'} again "
        "(`/baton schedules`)."
        if count
        else ""
    )
    return Reply(f"Restored `{name}`: new runs can start.{schedules}")


async def export(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    name = _name_arg(request, "export")
    workflow, defn = await workflows.get_definition(runtime, request.team_id, name)
    require_editor(actor, workflow)
    # Room for the zero-width spaces that keep a piece's end backticks off its fences.
    pieces = split_text(
        fence_safe(escape(format_yaml(defn, fold=EXPORT_FOLD).rstrip("\n"))), EXPORT_PART - 2
    )
    if len(pieces) == 1:
        text = FENCE + pieces[0] + FENCE
        return Reply(text, [section(text)])
    # Too long for one section: several code blocks, each ending where a line ends unless a
    # line is too long for one, which it then says.
    parts = pieces if len(pieces) < MESSAGE_BLOCKS else pieces[: MESSAGE_BLOCKS - 2]
    blocks = []
    for number, piece in enumerate(parts, start=1):
        ends_line = piece.endswith("\n") or number == len(pieces)
        code = fence_safe(piece.removesuffix("\n"))
        blocks.append(section(FENCE + code + FENCE + ("" if ends_line else "\n" + GOES_ON)))
    if len(parts) < len(pieces):
        rest = "".join(pieces[len(parts) :]).count("\n") + 1
        blocks.append(
            section(
                f"…and {plural(rest, 'more line')}: too long for one Slack message. An "
                f"operator can write the whole file with `baton export {defn.name}`."
            )
        )
    summary = (
        f"`{defn.name}` is long, so its YAML comes in {len(parts)} parts: join them in order, "
        f"one after another. `/baton import {len(parts)}` opens a box for each."
    )
    blocks.append(context(summary))
    return Reply(summary, checked(blocks))
