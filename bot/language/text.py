"""The text form of a workflow: one step per line, ``<id>: <title> <clauses>``.

Reading rules (also in :func:`language_help`):

- Steps are separated by line breaks or ``;``. Blank lines and lines starting with ``#`` are
  skipped. Problems count lines from 1 in the body; steps sharing a line share its number.
- The title is everything before the first clause. A word is a clause only as a word of its own,
  and only lowercase: ``after``, ``due``, ``wait``, ``approval``, ``hook:<name>``, ``@name``,
  ``<@U…>``, ``<!subteam^S…>`` or a lone ``{param}``. A title that contains one of these (or
  ``;``, or starts with ``"``) must be put in double quotes; ``\\"`` and ``\\\\`` escape inside
  them. Unquoted titles have their spacing tidied to single spaces.
- ``{name}`` anywhere declares a required run parameter: a user when it stands as an assignee
  somewhere, text otherwise. ``{steps.<id>.output.<key>}`` in a title is an earlier step's output.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from bot.language.assignees import AssigneeError, clean_mentions, format_assignee, parse_assignee
from bot.language.duration import DURATION_HINT, format_duration, parse_duration
from bot.language.model import (
    CLAUSES_HINT,
    Assignee,
    DefinitionError,
    Problem,
    StepDef,
    WorkflowDef,
    slugify,
)
from bot.language.text_header import (
    HEADERS,
    Header,
    format_header,
    header_keyword,
    implied_params,
    read_header,
)
from bot.language.validate import check_definition, sort_problems
from storage.vocabulary import StepKind

__all__ = ["MAX_SOURCE", "format_steps", "format_text", "parse_text"]

MAX_SOURCE: Final = 100_000

KEYWORDS: Final = frozenset({"after", "due", "wait", "approval"})
_HEAD_RE: Final = re.compile(r"\s*([^\s:;]+)\s*:")
_TOKEN_RE: Final = re.compile(r"(?:<[^<>]*>|\S)+")
_PARAM_TOKEN_RE: Final = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]{0,39}\}")
_DURATION_LIKE_RE: Final = re.compile(r"[0-9]+[a-zA-Z][0-9a-zA-Z]*")


def parse_text(
    name: str,
    title: str,
    body: str,
    *,
    description: str = "",
    channel: str | None = None,
    elsewhere: Mapping[str, str] | None = None,
) -> WorkflowDef:
    """Read the header and step lines of a workflow; raises :class:`DefinitionError` with
    every problem.

    An empty ``title`` becomes ``name`` (``/baton define <name>`` without a title).
    ``description`` and ``channel`` stand unless header lines say otherwise; ``elsewhere``
    refuses the header words the caller has fields of its own for (see ``read_header``).
    """
    if len(body) > MAX_SOURCE:
        raise DefinitionError(
            [Problem(f"the definition is longer than {MAX_SOURCE} characters", hint="Shorten it")]
        )
    problems: list[Problem] = []
    steps: list[StepDef] = []
    header = Header()
    segments = list(_segments(body, header, problems, elsewhere or {}))
    for line, segment in segments:
        step = _parse_step(line, segment, problems)
        if step is not None:
            steps.append(step)
    declared = {p.name for p in header.params}
    implied = tuple(p for p in implied_params(steps) if p.name not in declared)
    defn = WorkflowDef(
        name=name,
        title=clean_mentions(title) if title.strip() else name,
        steps=tuple(steps),
        description=clean_mentions(
            "\n".join(header.description) if header.described else description
        ),
        channel=header.channel if header.channel_given else channel,
        params=(*header.params, *implied),
        editors=None if header.editors is None else tuple(header.editors.values()),
        runners=None if header.runners is None else tuple(header.runners.values()),
    )
    found = list(check_definition(defn, integrations=None, form="text"))
    if segments and not steps:  # every line was unreadable: "no steps" would only add noise
        found = [p for p in found if p.message != "the workflow has no steps"]
    problems += found
    if problems:
        raise DefinitionError(sort_problems(problems))
    return defn


def format_text(defn: WorkflowDef, *, headers: Collection[str] = HEADERS) -> str:
    """The canonical text (what ``show`` prints): the header lines in ``headers`` that
    ``defn`` needs, then one line a step.

    Reading it back with :func:`parse_text` gives ``defn`` again.
    """
    return "\n".join([*format_header(defn, headers=headers), *format_steps(defn)])


def format_steps(defn: WorkflowDef) -> list[str]:
    """The step lines alone."""
    return [_format_step(step) for step in defn.steps]


# -- reading -----------------------------------------------------------------------------------


def _segments(
    body: str, header: Header, problems: list[Problem], elsewhere: Mapping[str, str]
) -> list[tuple[int, str]]:
    """``(line, text)`` for each non-blank step of the body; header lines go to ``header``."""
    found: list[tuple[int, str]] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        keyword = header_keyword(line)
        if keyword is not None:
            read_header(header, keyword, number, line, problems, elsewhere)
            continue
        found.extend((number, part) for part in _split_line(line) if part.strip())
    return found


def _split_line(line: str) -> list[str]:
    """Split at ``;`` except inside a quoted title."""
    parts: list[str] = []
    start = 0
    while True:
        scan = start
        head = _HEAD_RE.match(line, start)
        if head is not None:
            title_at = _skip_spaces(line, head.end())
            if title_at < len(line) and line[title_at] == '"':
                close = _closing_quote(line, title_at + 1)
                scan = len(line) if close is None else close + 1
        semicolon = line.find(";", scan)
        if semicolon == -1:
            parts.append(line[start:])
            return parts
        parts.append(line[start:semicolon])
        start = semicolon + 1


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _closing_quote(text: str, pos: int) -> int | None:
    """Index of the ``"`` that closes a quoted title whose text starts at ``pos``."""
    while pos < len(text):
        if text[pos] == "\\":
            pos += 2
            continue
        if text[pos] == '"':
            return pos
        pos += 1
    return None


def _unescape(text: str) -> str:
    return re.sub(r"\\([\\\"])", r"\1", text)


def _is_clause_start(token: str) -> bool:
    return (
        token in KEYWORDS
        or token.startswith(("hook:", "<@", "<!subteam"))
        or (token.startswith("@") and len(token) > 1)
        or _PARAM_TOKEN_RE.fullmatch(token) is not None
    )


def _read_unquoted_title(text: str) -> tuple[str, list[str]]:
    """The title (tidied) and the tokens from the first clause on."""
    tokens = _TOKEN_RE.findall(text)
    for index, token in enumerate(tokens):
        if _is_clause_start(token):
            return " ".join(tokens[:index]), tokens[index:]
    return " ".join(tokens), []


@dataclass
class _StepBuilder:
    line: int
    id: str
    problems: list[Problem]
    title: str = ""
    title_then_param: bool = False  # the first clause is a lone {param} right after the title
    assignee: Assignee | None = None
    assignee_text: str | None = None
    hook: str | None = None
    after: list[str] = field(default_factory=list)
    due: timedelta | None = None
    wait: timedelta | None = None
    kinds: list[StepKind] = field(default_factory=list)

    def problem(self, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(message, self.line, self.id, hint))

    def who(self, spelled: str, assignee: Assignee | None, hook: str | None) -> None:
        if self.assignee_text is not None:
            first = self.assignee_text
            hint = "Keep one; to let any member of a team do it, use the team's group (@it-team)"
            if first.startswith("{") and self.title_then_param:
                hint = (
                    f"If {first} belongs to the title, put the title in quotes: "
                    f'"{self.title} {first}"'
                )
            self.problem(f"the step has two assignees: {first} and {spelled}", hint)
            return
        self.assignee_text = spelled
        self.assignee = assignee
        self.hook = hook
        if hook is not None:
            self.kinds.append(StepKind.HOOK)


def _parse_step(line: int, segment: str, problems: list[Problem]) -> StepDef | None:
    head = _HEAD_RE.match(segment)
    if head is None:
        example = segment.strip()
        label, colon, title = example.partition(":")
        if colon and title.strip():  # "Get laptop: ..." meant the id get-laptop
            example = f"{slugify(label, underscores=True)}: {title.strip()}"
        else:
            example = f"{slugify(example.split()[0], underscores=True)}: {example}"
        problems.append(
            Problem("a step starts with its id and a colon", line, hint=f"Write e.g. '{example}'")
        )
        return None
    builder = _StepBuilder(line=line, id=head.group(1), problems=problems)
    rest = segment[head.end() :]
    stripped = rest.lstrip()
    quoted = stripped.startswith('"')
    if quoted:
        close = _closing_quote(stripped, 1)
        if close is None:
            builder.problem(
                "the title's opening quote is never closed", 'End the title with a " before clauses'
            )
            title, tokens = _unescape(stripped[1:]), []
        else:
            title, tokens = _unescape(stripped[1:close]), _TOKEN_RE.findall(stripped[close + 1 :])
    else:
        title, tokens = _read_unquoted_title(rest)
    builder.title = title
    builder.title_then_param = (
        not quoted and bool(tokens) and _PARAM_TOKEN_RE.fullmatch(tokens[0]) is not None
    )
    _parse_clauses(builder, tokens, quoted=quoted)
    kinds = list(dict.fromkeys(builder.kinds))
    if len(kinds) > 1:
        builder.problem(
            f"a step cannot be both {kinds[0].value} and {kinds[1].value}",
            "A step is either a task, an approval, a hook or a wait: keep one of these clauses",
        )
    kind = kinds[0] if kinds else StepKind.TASK
    return StepDef(
        id=builder.id,
        title=clean_mentions(title),
        kind=kind,
        assignee=builder.assignee,
        hook=builder.hook if kind is StepKind.HOOK else None,
        after=tuple(builder.after),
        due=builder.due,
        wait=builder.wait if kind is StepKind.WAIT else None,
        line=line,
    )


def _parse_clauses(builder: _StepBuilder, tokens: Sequence[str], *, quoted: bool) -> None:
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token == "after":
            index = _parse_after(builder, tokens, index)
        elif token in ("due", "wait"):
            value = tokens[index] if index < len(tokens) else None
            index += value is not None
            _parse_duration_clause(builder, token, value)
        elif token == "approval":
            builder.kinds.append(StepKind.APPROVAL)
        elif token.startswith("hook:"):
            name = token.removeprefix("hook:")
            if not name:
                builder.problem(
                    "hook: needs the integration's name right after the colon",
                    "Write e.g. hook:okta",
                )
            else:
                builder.who(token, None, name)
        elif token.startswith(("@", "<@", "<!subteam", "{")):
            try:
                assignee = parse_assignee(token)
            except AssigneeError as exc:
                builder.problem(exc.message, exc.hint)
            else:
                builder.who(token, assignee, None)
        else:
            builder.problem(f"unknown clause '{token}'", _unknown_clause_hint(token, quoted))


def _parse_after(builder: _StepBuilder, tokens: Sequence[str], index: int) -> int:
    ids: list[str] = []
    more = True
    while more and index < len(tokens):
        token = tokens[index]
        index += 1
        ids.extend(part for part in token.split(",") if part)
        more = token.endswith(",") or (index < len(tokens) and tokens[index].startswith(","))
    if not ids:
        builder.problem("after needs the ids of the steps to wait for", "Write e.g. after docs, it")
    builder.after.extend(ids)
    return index


def _parse_duration_clause(builder: _StepBuilder, clause: str, value: str | None) -> None:
    if value is None:
        builder.problem(f"{clause} needs a duration", f"{DURATION_HINT}, e.g. {clause} 2d")
        return
    try:
        duration = parse_duration(value)
    except ValueError as exc:
        builder.problem(f"{clause} {exc}", DURATION_HINT)
        return
    if clause == "due":
        if builder.due is not None:
            builder.problem("due is given twice", "Keep one")
        builder.due = duration
    else:
        if builder.wait is not None:
            builder.problem("wait is given twice", "Keep one")
        else:
            builder.kinds.append(StepKind.WAIT)
        builder.wait = duration


def _unknown_clause_hint(token: str, quoted: bool) -> str:
    if _DURATION_LIKE_RE.fullmatch(token):
        return f"Write due {token} for a deadline or wait {token} for a timer step"
    if token.lower() in KEYWORDS:
        return f"Clauses are lowercase: write {token.lower()}"
    if token.startswith(","):
        return "List the ids right after after, separated by commas: after docs, laptop"
    if quoted:
        return f"{CLAUSES_HINT}. If '{token}' belongs to the title, put it inside the quotes"
    return f"{CLAUSES_HINT}. If '{token}' belongs to the title, put the whole title in quotes"


# -- writing -----------------------------------------------------------------------------------


def _format_step(step: StepDef) -> str:
    parts = [f"{step.id}:", _format_title(step.title)]
    if step.hook is not None:
        parts.append(f"hook:{step.hook}")
    if step.assignee is not None:
        parts.append(format_assignee(step.assignee))
    if step.kind is StepKind.APPROVAL:
        parts.append("approval")
    if step.wait is not None:
        parts.append(f"wait {format_duration(step.wait)}")
    if step.after:
        parts.append("after " + ", ".join(step.after))
    if step.due is not None:
        parts.append(f"due {format_duration(step.due)}")
    return " ".join(parts)


def _format_title(title: str) -> str:
    if _needs_quotes(title):
        escaped = title.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return title


def _needs_quotes(title: str) -> bool:
    if not title or title.startswith('"') or ";" in title:
        return True
    read, clauses = _read_unquoted_title(title)
    return bool(clauses) or read != title
