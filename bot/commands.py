"""The `/baton` subcommands: their usage lines, splitting a command's text, suggestions."""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from typing import Final

from bot.core.errors import UsageError
from bot.language.assignees import clean_mentions
from bot.language.model import PARAM_NAME_RE, STEP_ID_RE, WORKFLOW_NAME_RE
from bot.slack.text import clip, echo_code


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    topic: str


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "help", "/baton help [topic]", "commands, the workflow language, examples", "basics"
    ),
    CommandSpec(
        "define",
        "/baton define <name> [title] + one step per line",
        "create a workflow, or a new version of one you may edit",
        "workflows",
    ),
    CommandSpec("new", "/baton new <name>", "open the workflow builder", "workflows"),
    CommandSpec("edit", "/baton edit <name>", "edit a workflow in the builder", "workflows"),
    CommandSpec(
        "import", "/baton import [parts]", "paste a workflow's YAML (in parts if long)", "workflows"
    ),
    CommandSpec("export", "/baton export <name>", "a workflow as YAML", "workflows"),
    CommandSpec("list", "/baton list", "the workspace's workflows", "workflows"),
    CommandSpec("show", "/baton show <name>", "a workflow with its plan", "workflows"),
    CommandSpec(
        "delete",
        "/baton delete <name>",
        "archive a workflow (running runs go on, schedules pause)",
        "workflows",
    ),
    CommandSpec(
        "restore",
        "/baton restore <name>",
        "bring back an archived workflow (its schedules resume)",
        "workflows",
    ),
    CommandSpec(
        "run",
        "/baton run <name> [key=value ...] [by <date>] [#channel]",
        "start a run (a deadline `by` a date, 2026-12-04 13:00, friday, tomorrow or 3d)",
        "runs",
    ),
    CommandSpec(
        "status",
        "/baton status [run-id | page]",
        "one run in detail, or a page of this channel's active runs",
        "runs",
    ),
    CommandSpec("mine", "/baton mine", "my open steps, with buttons", "runs"),
    CommandSpec("start", "/baton start <run-id> <step>", "start a step", "steps"),
    CommandSpec("done", "/baton done <run-id> <step>", "complete a step", "steps"),
    CommandSpec("block", "/baton block <run-id> <step> <reason>", "mark a step blocked", "steps"),
    CommandSpec("unblock", "/baton unblock <run-id> <step>", "resume a blocked step", "steps"),
    CommandSpec("skip", "/baton skip <run-id> <step>", "skip a step (run owner)", "steps"),
    CommandSpec(
        "retry", "/baton retry <run-id> <step>", "retry a failed step (run owner)", "steps"
    ),
    CommandSpec("approve", "/baton approve <run-id> <step>", "approve an approval step", "steps"),
    CommandSpec(
        "reject", "/baton reject <run-id> <step> <reason>", "reject an approval step", "steps"
    ),
    CommandSpec(
        "reassign", "/baton reassign <run-id> <step> @user", "give a step to someone else", "steps"
    ),
    CommandSpec("claim", "/baton claim <run-id> <step>", "take a group step", "steps"),
    CommandSpec("cancel", "/baton cancel <run-id> [reason]", "cancel a run", "runs"),
    CommandSpec(
        "history",
        "/baton history <run-id> [page]",
        "a run's audit trail, a page at a time, the newest first",
        "runs",
    ),
    CommandSpec(
        "schedule",
        "/baton schedule <name> <when> [key=value ...]",
        "recurring runs: cron, daily HH:MM, weekdays HH:MM, weekly <day> HH:MM",
        "time",
    ),
    CommandSpec("schedules", "/baton schedules", "recurring runs in this workspace", "time"),
    CommandSpec("unschedule", "/baton unschedule <id>", "stop a recurring run", "time"),
    CommandSpec(
        "digest",
        "/baton digest daily|weekdays|weekly <day> HH:MM [#channel] | off | now",
        "status digests for a channel",
        "digests",
    ),
    CommandSpec(
        "hook",
        "/baton hook add <name> <url> | list | remove <name> | test <name>",
        "integrations (admins)",
        "integrations",
    ),
    CommandSpec(
        "away",
        "/baton away <until> [delegate @user] | off",
        "out of office: reminders pause, new steps go to your delegate",
        "time",
    ),
    CommandSpec(
        "hours", "/baton hours <HH:MM-HH:MM> [days]", "your working hours for reminders", "time"
    ),
    CommandSpec(
        "editors",
        "/baton editors <name> [add|remove @user ...]",
        "who may edit a workflow (editors change it)",
        "workflows",
    ),
    CommandSpec(
        "runners",
        "/baton runners <name> [add|remove @user|@group ... | anyone]",
        "who may start runs of a workflow (default: anyone; editors change it)",
        "workflows",
    ),
    CommandSpec(
        "settings",
        "/baton settings [escalation <working days>|off]",
        "workspace settings: when an overdue step escalates to its run's owner (admins change)",
        "basics",
    ),
)

SPEC_BY_NAME: dict[str, CommandSpec] = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True, slots=True)
class CommandText:
    """`/baton <name> <rest>`: the first line's first word, and everything after it."""

    name: str
    rest: str  # the remainder of the first line
    body: str  # the lines after the first (step lines for `define`)

    @property
    def args(self) -> list[str]:
        return split_words(self.rest)


def parse_command_text(text: str) -> CommandText:
    first, _, body = text.strip().partition("\n")
    name, _, rest = first.strip().partition(" ")
    return CommandText(name=name.lower(), rest=rest.strip(), body=body.strip("\n"))


def split_words(text: str) -> list[str]:
    """Words with shell-like quotes, forgiving an unmatched quote (Slack clients curl them too)."""
    text = (
        text.replace("\u201c", '"')
        .replace("\u201d", '"')
        .replace("\u2018", "'")
        .replace("\u2019", "'")
    )
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def suggest(name: str, known: list[str]) -> str | None:
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    if matches:
        return matches[0]
    prefixed = [candidate for candidate in known if candidate.startswith(name[:2])] if name else []
    return prefixed[0] if len(prefixed) == 1 else None


def usage_error(name: str, problem: str) -> UsageError:
    return UsageError(problem, SPEC_BY_NAME[name].usage)


# -- arguments people type, checked before they reach a query or a reply ----------------------

RUN_KEY_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,39}-[0-9]{1,18}")
MAX_ROW_ID: Final = 2**31 - 1  # ids are SQL INTEGER columns: 32 bits on PostgreSQL


def quoted(text: str) -> str:
    """What someone typed, shown back as code: escaped, cut if it is long, and the people and
    channels Slack linked in it as clean mentions (`<@U0BOB>`, not `<@U0BOB|bob>`)."""
    return echo_code(clip(clean_mentions(text), 80))


def check_workflow_name(command: str, text: str) -> str:
    name = text.lower()
    if WORKFLOW_NAME_RE.fullmatch(name) is None:
        raise usage_error(
            command,
            f"{quoted(text)} is not a workflow name: names are lowercase letters, digits and "
            "dashes, e.g. `onboarding`.",
        )
    return name


def check_run_key(command: str, text: str) -> str:
    key = text.lower()
    if RUN_KEY_RE.fullmatch(key) is None:
        raise usage_error(
            command, f"There is no run {quoted(text)}: run ids look like `onboarding-3`."
        )
    return key


def check_step_key(command: str, text: str, run: str) -> str:
    key = text.lower()
    if STEP_ID_RE.fullmatch(key) is None:
        raise usage_error(
            command,
            f"{quoted(text)} is not a step id: ids are lowercase letters, digits, `-` and `_`; "
            f"`/baton status {run}` lists them.",
        )
    return key


def check_param_name(command: str, text: str) -> str:
    if PARAM_NAME_RE.fullmatch(text) is None:
        raise usage_error(
            command,
            f"{quoted(text)} is not a parameter name: write key=value, e.g. `manager=@ana`.",
        )
    return text


def row_id(text: str) -> int | None:
    """A row's number as typed (ASCII digits), or None when no row can have it."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ROW_ID)):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ROW_ID else None
