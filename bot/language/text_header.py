r"""Header lines of the text form: what a workflow says besides its steps.

A header line starts with one of these words and a space (a step line is ``<id>: ...``, so
``description: ...`` stays a step whose id is ``description``)::

    description Everything a new hire needs in week one   (one line each; they join with breaks)
    channel <#C0123456789>                                 (or the id; ``none`` for no channel)
    param manager user                                     (``user`` or ``text``; ``optional``)
    param hire text optional
    editors <@U0BOB>, <@U0CAROL>                           (people; ``none`` for nobody)
    runners <!subteam^S0OPS>, <@U0DAN>                     (people and groups; ``anyone``)

A description's other line breaks (``\r``, ``\u2028``...) read back as ``\n``. Header lines
are read as whole lines (a ``;`` in a description is text), wherever they stand;
``format_header`` writes them before the steps. A line that is not given keeps what the caller
passed (the workflow's current description and channel); ``param`` lines declare parameters
beside the ones the steps imply (``{name}`` used and not declared is a required one).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from bot.language.assignees import AssigneeError, format_assignee, parse_assignee
from bot.language.model import (
    CHANNEL_ID_RE,
    PARAM_NAME_RE,
    Assignee,
    ParamDef,
    ParamType,
    Problem,
    StepDef,
    WorkflowDef,
)
from bot.language.placeholders import title_params
from storage.vocabulary import AssigneeKind

__all__ = ["HEADERS", "Header", "format_header", "header_keyword", "implied_params", "read_header"]

HEADERS: Final = ("description", "channel", "param", "editors", "runners")

_HEADER_RE: Final = re.compile(rf"\s*({'|'.join(HEADERS)})(?:\s|$)")
# What splitlines() reads as a line break, "\r\n" as one: a description's lines are these.
_LINE_BREAK_RE: Final = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_CHANNEL_RE: Final = re.compile(r"<#([CG][A-Z0-9]{2,20})(?:\|[^>]*)?>")
_PERSON_TOKEN_RE: Final = re.compile(r"(?:<[^<>]*>|[^\s,<])+")
_PARAM_WORDS: Final = {"user", "text", "optional", "required"}
_HINTS: Final = {
    "channel": "Write e.g. channel #onboarding (picked from Slack's # menu), its id "
    "C0123456789, or channel none",
    "param": "Write param <name> [user|text] [optional], e.g. param hire text optional",
    "editors": "Write e.g. editors @bob, @carol (people), or editors none",
    "runners": "Write e.g. runners @bob, @it-team (people and user groups), or runners anyone",
}
_NOBODY: Final = {"editors": "none", "runners": "anyone"}


@dataclass
class Header:
    """What the header lines said; ``None`` (or an empty list) where they said nothing."""

    description: list[str] = field(default_factory=list)
    described: bool = False
    channel: str | None = None
    channel_given: bool = False
    params: list[ParamDef] = field(default_factory=list)
    editors: dict[tuple[AssigneeKind, str], Assignee] | None = None
    runners: dict[tuple[AssigneeKind, str], Assignee] | None = None


def header_keyword(line: str) -> str | None:
    """The header word a line starts with (followed by a space or nothing), or ``None`` for
    a step (or blank) line: ``channel: ...`` is the step ``channel``."""
    found = _HEADER_RE.match(line)
    return None if found is None else found.group(1)


def read_header(
    header: Header,
    keyword: str,
    number: int,
    line: str,
    problems: list[Problem],
    elsewhere: Mapping[str, str],
) -> None:
    """Read one header line into ``header``. ``elsewhere`` names, for header words the caller
    takes from its own fields (the builder's boxes), where to write them instead."""
    rest = line.lstrip()[len(keyword) :]

    def problem(message: str, hint: str | None = None) -> None:
        problems.append(Problem(message, number, hint=hint))

    if keyword in elsewhere:
        problem(f"{keyword} lines are not read here", f"Use {elsewhere[keyword]}")
    elif keyword == "description":
        header.described = True
        header.description.append(rest[1:] if rest[:1].isspace() else rest)
    elif keyword == "channel":
        _read_channel(header, rest.split(), problem)
    elif keyword == "param":
        _read_param(header, rest.replace(",", " ").split(), problem)
    else:
        _read_people(header, keyword, _PERSON_TOKEN_RE.findall(rest), problem)


class _Report(Protocol):
    def __call__(self, message: str, hint: str | None = None) -> None: ...


def _read_channel(header: Header, words: Sequence[str], problem: _Report) -> None:
    if header.channel_given:
        problem("channel is given twice", "Keep one")
        return
    if len(words) != 1:
        problem("channel needs one channel", _HINTS["channel"])
        return
    word = words[0]
    linked = _CHANNEL_RE.fullmatch(word)
    if word == "none":
        channel = None
    elif linked is not None:
        channel = linked.group(1)
    elif CHANNEL_ID_RE.fullmatch(word):
        channel = word
    else:
        problem(f"'{word}' is not a channel Slack linked, nor a channel id", _HINTS["channel"])
        return
    header.channel, header.channel_given = channel, True


def _read_param(header: Header, words: Sequence[str], problem: _Report) -> None:
    if not words:
        problem("param needs the parameter's name", _HINTS["param"])
        return
    name = words[0].removeprefix("{").removesuffix("}")
    if not PARAM_NAME_RE.fullmatch(name):
        problem(f"'{words[0]}' is not a parameter name", _HINTS["param"])
        return
    if any(p.name == name for p in header.params):
        problem(f"the parameter '{name}' is declared twice", "Keep one param line for it")
        return
    unknown = [w for w in words[1:] if w not in _PARAM_WORDS]
    if unknown:
        problem(f"param {name}: unknown word '{unknown[0]}'", _HINTS["param"])
        return
    said = set(words[1:])
    if {"user", "text"} <= said or {"optional", "required"} <= said:
        problem(f"param {name} says two different things", _HINTS["param"])
        return
    kind = ParamType.USER if "user" in said else ParamType.TEXT
    header.params.append(ParamDef(name, kind, "optional" not in said))


def _read_people(header: Header, key: str, words: Sequence[str], problem: _Report) -> None:
    found = getattr(header, key)
    if found is None:
        found = {}
        setattr(header, key, found)
    if list(words) == [_NOBODY[key]]:
        return
    for word in words:
        try:
            person = parse_assignee(word, bare_ids=True)
        except AssigneeError as exc:
            problem(f"{key}: {exc.message}", _HINTS[key])
            continue
        spelled = format_assignee(person)  # as Slack shows it, without its typed |name
        if person.kind is AssigneeKind.PARAM:
            problem(f"{key}: '{spelled}' is a run parameter, not a person", _HINTS[key])
        elif person.kind is AssigneeKind.GROUP and key == "editors":
            problem(
                f"editors: '{spelled}' is a user group; editors are people",
                "Name each person (a group may be given in runners, who may start runs)",
            )
        else:
            found.setdefault((person.kind, person.value), person)


def implied_params(steps: Sequence[StepDef]) -> tuple[ParamDef, ...]:
    """Each ``{name}`` used declares a required parameter; a user if it is ever an assignee."""
    types: dict[str, ParamType] = {}
    for step in steps:
        for name in title_params(step.title):
            types.setdefault(name, ParamType.TEXT)
        if step.assignee is not None and step.assignee.kind is AssigneeKind.PARAM:
            types[step.assignee.value] = ParamType.USER
    return tuple(ParamDef(name, kind) for name, kind in types.items())


def format_header(defn: WorkflowDef, *, headers: Collection[str] = HEADERS) -> list[str]:
    """The header lines that say what ``defn`` holds besides its steps (only those in
    ``headers``). Params are written only when they differ from what the steps imply."""
    lines: list[str] = []
    if "description" in headers and defn.description:
        # A line each (a line may start or end with spaces of its own); the steps are read a
        # line at a time, so any kind of line break ends one, and reads back as "\n".
        lines += [
            f"description {part}" if part else "description"
            for part in _LINE_BREAK_RE.split(defn.description)
        ]
    if "channel" in headers and defn.channel is not None:
        lines.append(f"channel <#{defn.channel}>")
    if "param" in headers and defn.params != implied_params(defn.steps):
        lines += [_format_param(p) for p in defn.params]
    for key, people in (("editors", defn.editors), ("runners", defn.runners)):
        if key in headers and people is not None:
            spelled = ", ".join(format_assignee(p) for p in people)
            lines.append(f"{key} {spelled or _NOBODY[key]}")
    return lines


def _format_param(param: ParamDef) -> str:
    return f"param {param.name} {param.type.value}" + ("" if param.required else " optional")
