"""`/baton new | edit | import`: the builder and import modals, with inline errors on submit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.commands import check_workflow_name, usage_error
from bot.core.errors import BatonError, NameTaken
from bot.language import (
    Assignee,
    AssigneeError,
    DefinitionError,
    Problem,
    WorkflowDef,
    clean_mentions,
    format_text,
    parse_assignee,
    parse_text,
    parse_yaml,
)
from bot.notify.replies import Reply
from bot.people.channel_access import ChannelRefused, require_member
from bot.people.permissions import Actor, is_group_id, require_editor
from bot.render.blocks import unfence
from bot.render.builder import INPUT_TEXT, MAX_IMPORT_PARTS, builder_modal, import_modal, step_boxes
from bot.runtime import Runtime
from bot.slack.ids import BlockId, CallbackId, InputId, WorkflowRef
from bot.slack.inflight import InFlight
from bot.workflows import definitions as workflows
from handlers.listening import listener
from handlers.requests import SlashRequest, ViewSubmission
from storage.vocabulary import AssigneeKind

Ack = Callable[..., Awaitable[None]]
ERROR_LIMIT = 1900  # Slack truncates a modal's inline error beyond about this length
# Header lines of the text form the builder has boxes for: the steps box reads `param` only.
BUILDER_BOXES = {
    "description": "the Description box",
    "channel": "the Channel for run cards menu",
    "editors": "the Editors box",
    "runners": "the boxes for who may start runs",
}


async def _open(runtime: Runtime, request: SlashRequest, view: dict[str, Any]) -> Reply:
    client = await runtime.slack.for_team(request.team_id)
    await client.views_open(trigger_id=request.trigger_id, view=view)
    return Reply("")


async def new(runtime: Runtime, request: SlashRequest) -> Reply:
    args = request.command.args
    if not args:
        raise usage_error("new", "Name the workflow, e.g. `/baton new onboarding`.")
    name = check_workflow_name("new", args[0])
    existing = await workflows.list_workflows(runtime, request.team_id)
    if any(workflow.name == name for workflow, _ in existing):  # a blank builder would replace it
        return Reply(f"`{name}` already exists: `/baton edit {name}` changes it.")
    ref = WorkflowRef(name=name, channel=request.channel_id, new=True)
    return await _open(runtime, request, builder_modal(ref))


async def edit(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    args = request.command.args
    if not args:
        raise usage_error("edit", "Which workflow? Give its name.")
    name = check_workflow_name("edit", args[0])
    workflow, defn = await workflows.get_definition(runtime, request.team_id, name)
    require_editor(actor, workflow)
    steps = clean_mentions(format_text(defn, headers=("param",)))  # the rest has boxes
    boxes = step_boxes(steps)
    if boxes is None:  # a box would cut them, and saving would lose the rest
        return Reply(_too_long_for_builder(defn, steps))
    ref = WorkflowRef(name=defn.name, channel=request.channel_id)
    # Groups by @handle, as people type them in the box (the id if the directory is down).
    handles = []
    for group in (r for r in workflow.runners if is_group_id(r)):
        handle = await runtime.directory.group_handle(request.team_id, group)
        handles.append(f"@{handle}" if handle else group)
    view = builder_modal(
        ref,
        title=clean_mentions(defn.title),  # older versions kept Slack's |name in typed text
        description=clean_mentions(defn.description),
        channel=defn.channel,
        steps=boxes,
        editors=list(workflow.editors),
        runners=[r for r in workflow.runners if not is_group_id(r)],
        runner_groups=", ".join(handles),
    )
    return await _open(runtime, request, view)


def _too_long_for_builder(defn: WorkflowDef, steps: str) -> str:
    name = defn.name
    longest = max(len(line) for line in steps.split("\n"))
    if longest > INPUT_TEXT:
        why = (
            f"one of its step lines has {longest:,} characters and a box of the builder holds "
            f"{INPUT_TEXT:,}"
        )
    else:
        why = f"its steps come to {len(steps):,} characters, more than the builder's boxes hold"
    said = f"`{name}` is too long for the builder: {why}, so saving it would lose some."
    return (
        f"{said} Change it as YAML instead: `/baton export {name}`, then paste the changed "
        f"YAML into `/baton import` (it says how many boxes to ask for). To change its steps "
        f"here, send them all again with `/baton define {name} &lt;title&gt;` and one step per "
        f"line; `/baton show {name}` prints them."
    )


async def import_workflow(runtime: Runtime, request: SlashRequest) -> Reply:
    args = request.command.args
    parts = 1
    if args:
        if len(args) > 1 or not args[0].isdecimal() or not 1 <= int(args[0]) <= MAX_IMPORT_PARTS:
            raise usage_error(
                "import",
                f"Give how many parts the YAML comes in, from 1 to {MAX_IMPORT_PARTS} "
                f"(e.g. `/baton import 3`), or nothing for one box.",
            )
        parts = int(args[0])
    return await _open(runtime, request, import_modal(request.channel_id, parts))


def _problems(error: DefinitionError) -> str:
    text = clean_mentions(str(error))  # plain text: a typed mention's |name would show
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


class NotUserGroups(BatonError):
    """Words in the builder's box of user groups that are no user group here."""


async def submit_builder(
    ack: Ack, submission: ViewSubmission, workflow_ref: WorkflowRef, actor: Actor, runtime: Runtime
) -> None:
    assert workflow_ref.name is not None
    steps = "\n".join(text for _, text in submission.parts(BlockId.STEPS, InputId.TEXT))
    channel = submission.selected_conversation(BlockId.CHANNEL, InputId.CHANNEL)
    groups = await _runner_groups(
        runtime, submission.team_id, submission.text(BlockId.RUNNER_GROUPS, InputId.TEXT)
    )
    editors = tuple(
        Assignee(AssigneeKind.USER, user)
        for user in submission.selected_users(BlockId.EDITORS, InputId.USERS)
    )
    runners = tuple(
        Assignee(AssigneeKind.USER, user)
        for user in submission.selected_users(BlockId.RUNNERS, InputId.USERS)
    ) + tuple(Assignee(AssigneeKind.GROUP, group) for group in groups)
    defn = parse_text(
        workflow_ref.name,
        submission.text(BlockId.TITLE, InputId.TEXT),
        steps,
        description=submission.text(BlockId.DESCRIPTION, InputId.TEXT),
        channel=channel,
        elsewhere=BUILDER_BOXES,
    )
    defn = replace(defn, editors=editors, runners=runners)
    await _save(ack, runtime, submission, actor, workflow_ref, defn, picked=True)


def _by_box(boxes: list[tuple[str, str]]) -> Callable[[DefinitionError], dict[str, str]]:
    """Where the builder shows a definition's problems: each next to the box of steps that
    holds its line, the line counted from that box's first; others next to the first box."""
    starts: list[tuple[int, str]] = []  # (the box's first line in the joined text, block id)
    line = 1
    for block_id, text in boxes:
        starts.append((line, block_id))
        line += text.count("\n") + 1

    def place(error: DefinitionError) -> dict[str, str]:
        found: dict[str, list[Problem]] = {}
        for problem in error.problems:
            block_id = BlockId.STEPS.value
            if problem.line is not None and starts:
                first, block_id = max(s for s in starts if s[0] <= problem.line)
                problem = replace(problem, line=problem.line - first + 1)
            found.setdefault(block_id, []).append(problem)
        return {block: _problems(DefinitionError(problems)) for block, problems in found.items()}

    return place


async def _runner_groups(runtime: Runtime, team_id: str, text: str) -> list[str]:
    """The user group ids in the builder's groups box (`@it-team, @oncall`); NotUserGroups
    says which words are not user groups here."""
    ids, wrong = [], []
    for word in text.replace(",", " ").split():
        try:
            group = parse_assignee(word, bare_ids=True)
        except AssigneeError:
            group = None
        if group is not None and group.kind == AssigneeKind.MENTION:
            found = await runtime.directory.find_name(team_id, group.value)
            group = Assignee(AssigneeKind(found[0]), found[1]) if found else None
        if group is None or group.kind != AssigneeKind.GROUP:
            wrong.append(word)
            continue
        ids.append(group.value)
    if wrong:
        raise NotUserGroups(
            f"Not user groups in this workspace: {', '.join(wrong)}. Write each group's "
            "@handle (e.g. @it-team); pick people in the box above."
        )
    return list(dict.fromkeys(ids))


async def submit_import(
    ack: Ack, submission: ViewSubmission, workflow_ref: WorkflowRef, actor: Actor, runtime: Runtime
) -> None:
    # As copied from `/baton export`'s code blocks, with the spaces that kept them whole.
    text = unfence("\n".join(text for _, text in submission.parts(BlockId.YAML, InputId.TEXT)))
    defn = parse_yaml(text)
    await _save(ack, runtime, submission, actor, workflow_ref, defn, picked=False)


async def _check_channel(
    runtime: Runtime, submission: ViewSubmission, opened_in: str, defn: WorkflowDef, picked: bool
) -> None:
    """A channel for run cards the editor picked (`picked`) or imported must be one they are
    in, unless it is the one they opened the modal from or the workflow already posts there.
    Modal errors are plain text, so the channel is named without Slack's <#C…> link."""
    channel = defn.channel
    if not channel or channel == opened_in:
        return
    current = await workflows.current_definition(runtime, submission.team_id, defn.name)
    if current is not None and current.channel == channel:
        return
    await require_member(
        runtime,
        team_id=submission.team_id,
        user_id=submission.user_id,
        channel_id=channel,
        fix=f"Join it first, or {'pick' if picked else 'import with'} a channel you are in.",
        label="this channel" if picked else f"channel {channel}",
    )


async def _save(
    ack: Ack,
    runtime: Runtime,
    submission: ViewSubmission,
    actor: Actor,
    opened: WorkflowRef,
    defn: WorkflowDef,
    *,
    picked: bool,
) -> None:
    """`picked`: the channel for run cards was picked in the builder (else imported in the
    YAML). The builder's "New workflow" (`opened.new`) must not replace a workflow someone
    created meanwhile. What goes wrong goes back into the modal (`modal_errors`)."""
    await _check_channel(runtime, submission, opened.channel, defn, picked)
    await workflows.define(runtime, actor, defn, tell_author=True, only_new=bool(opened.new))
    await ack()


def modal_errors(error: Exception, submission: ViewSubmission) -> dict[str, str] | None:
    """Where the builder and import modals show what went wrong, next to the text that has
    it (the modal stays open): a name someone took meanwhile by the title, the first field;
    a definition's problems by the steps (each by its box) or the YAML; a refused channel by
    the channel menu, or the YAML that named it; anything else Baton refuses by the steps or
    the YAML."""
    builder = submission.callback_id == CallbackId.BUILDER
    field = BlockId.STEPS if builder else BlockId.YAML
    if isinstance(error, NameTaken):
        return {BlockId.TITLE.value: str(error)}
    if isinstance(error, NotUserGroups):
        return {BlockId.RUNNER_GROUPS.value: str(error)}
    if isinstance(error, DefinitionError):
        if builder:
            return _by_box(submission.parts(BlockId.STEPS, InputId.TEXT))(error)
        return {field.value: _problems(error)}
    if isinstance(error, ChannelRefused):
        return {(BlockId.CHANNEL if builder else field).value: str(error)}
    if isinstance(error, BatonError):
        return {field.value: str(error)[:ERROR_LIMIT]}
    return None


def register(app: AsyncApp, inflight: InFlight) -> None:
    app.view(CallbackId.BUILDER.value)(listener(inflight, submit_builder, in_modal=modal_errors))
    app.view(CallbackId.IMPORT.value)(listener(inflight, submit_import, in_modal=modal_errors))
