"""`/baton define | list | show | delete | export`."""

from __future__ import annotations

from bot import workflows
from bot.command_line import usage_error
from bot.digests.forecast import forecast_definition, forecast_text
from bot.language import describe_plan, format_text, format_yaml, make_plan, parse_text
from bot.permissions import actor_for, require_editor
from bot.render.blocks import context, section
from bot.replies import Reply
from bot.runtime import Runtime
from handlers.requests import SlashRequest


def _name_arg(request: SlashRequest, command: str) -> str:
    args = request.command.args
    if not args:
        raise usage_error(command, "Which workflow? Give its name.")
    return args[0].lower()


async def define(runtime: Runtime, request: SlashRequest) -> Reply:
    name, _, title = request.command.rest.partition(" ")
    if not name:
        raise usage_error("define", "Give the workflow a name, then its steps on the next lines.")
    if not request.command.body.strip():
        raise usage_error(
            "define", f"`{name}` has no steps: write one step per line after the first line."
        )
    defn = parse_text(name.lower(), title.strip() or name, request.command.body, channel=None)
    actor = await actor_for(runtime, request.team_id, request.user_id)
    result = await workflows.define(runtime, actor, defn)
    verb = "Created" if result.created else f"Saved version {result.version} of"
    plan = describe_plan(make_plan(defn), defn)
    text = (
        f"{verb} `{defn.name}` ({len(defn.steps)} steps).\n```{plan}```\n"
        f"Start it with `/baton run {defn.name}"
        + "".join(f" {p.name}=…" for p in defn.params if p.required)
        + "`"
    )
    return Reply(text, [section(text)])


async def list_workflows(runtime: Runtime, request: SlashRequest) -> Reply:
    rows = await workflows.list_workflows(runtime, request.team_id)
    if not rows:
        text = "No workflows yet. Create one with `/baton define` (see `/baton help example`)."
        return Reply(text)
    lines = [
        f"• `{wf.name}` {title} (v{wf.latest_version}, owner <@{wf.owner_id}>)"
        for wf, title in rows
    ]
    text = "*Workflows*\n" + "\n".join(lines)
    return Reply(text, [section(text)])


async def show(runtime: Runtime, request: SlashRequest) -> Reply:
    name = _name_arg(request, "show")
    workflow, defn = await workflows.get_definition(runtime, request.team_id, name)
    plan = describe_plan(make_plan(defn), defn)
    head = (
        f"*{defn.title}* · `{defn.name}` v{workflow.latest_version} · owner <@{workflow.owner_id}>"
    )
    body = format_text(defn)
    forecast = forecast_text(await forecast_definition(runtime, request.team_id, workflow, defn))
    text = f"{head}\n```{body}```\n*Plan*\n```{plan}```\n*Forecast*\n{forecast}"
    blocks = [
        section(head),
        section(f"```{body}```"),
        section(f"*Plan*\n```{plan}```"),
        section(f"*Forecast*\n{forecast}"),
        context(f"Edit with `/baton edit {defn.name}`; run with `/baton run {defn.name}`"),
    ]
    return Reply(text, blocks)


async def delete(runtime: Runtime, request: SlashRequest) -> Reply:
    name = _name_arg(request, "delete")
    actor = await actor_for(runtime, request.team_id, request.user_id)
    await workflows.archive(runtime, actor, name)
    return Reply(f"Archived `{name}`. Runs already going carry on; no new runs can start.")


async def export(runtime: Runtime, request: SlashRequest) -> Reply:
    name = _name_arg(request, "export")
    workflow, defn = await workflows.get_definition(runtime, request.team_id, name)
    require_editor(await actor_for(runtime, request.team_id, request.user_id), workflow)
    text = f"```{format_yaml(defn)}```"
    return Reply(text, [section(text)])
