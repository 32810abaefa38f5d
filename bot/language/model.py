"""The workflow model: what both the text form and the YAML form describe.

Everything here is immutable and compares by value, so two parses of the same workflow are
equal. ``line`` fields and assignee labels are carried along for messages but never compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "CLAUSES_HINT",
    "GROUP_ID_RE",
    "INTEGRATION_NAME_RE",
    "MAX_STEPS",
    "MAX_TITLE",
    "MENTION_ENTITY_RE",
    "MENTION_RE",
    "PARAM_NAME_RE",
    "STEP_ID_RE",
    "USER_ID_RE",
    "WORKFLOW_NAME_RE",
    "Assignee",
    "AssigneeError",
    "AssigneeKind",
    "DefinitionError",
    "OutputRef",
    "ParamDef",
    "ParamType",
    "Problem",
    "StepDef",
    "StepKind",
    "WorkflowDef",
    "clean_mentions",
    "fill_title",
    "format_assignee",
    "from_dict",
    "output_refs",
    "parse_assignee",
    "slugify",
    "title_params",
    "to_dict",
]

WORKFLOW_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
STEP_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
INTEGRATION_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
PARAM_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
USER_ID_RE: Final = re.compile(r"[UW][A-Z0-9]{2,20}")
GROUP_ID_RE: Final = re.compile(r"S[A-Z0-9]{2,20}")
MENTION_RE: Final = re.compile(r"[^\W_][\w.-]{0,79}")
CHANNEL_ID_RE: Final = re.compile(r"[CG][A-Z0-9]{2,20}")
MAX_STEPS: Final = 100
MAX_TITLE: Final = 200
MAX_DESCRIPTION: Final = 3000

CLAUSES_HINT: Final = (
    "Clauses are @user, @group, {param}, hook:<integration>, after <id>[, <id>...], "
    "due <duration>, approval and wait <duration>"
)

# ``{name}`` in a title is a run parameter; ``{steps.<id>.output.<key>}`` is an earlier step's
# output. Anything else in braces is plain text, except that ``{steps....}`` must be well formed.
_PLACEHOLDER_RE: Final = re.compile(r"\{([^{}]*)\}")
_OUTPUT_REF_RE: Final = re.compile(
    r"steps\.([a-z0-9][a-z0-9_-]{0,39})\.output\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)"
)
_SPACED_PLACEHOLDER_RE: Final = re.compile(r"([ \t]*)\{([^{}]*)\}")
# A person, channel or user group Slack linked in what someone typed, with the `|name` it
# adds (`<@U0BOB|bob>`): the name is how it was spelled then; the id is what it means.
MENTION_ENTITY_RE: Final = re.compile(
    r"<(@[UW][A-Z0-9]+|#[CG][A-Z0-9]+|!subteam\^S[A-Z0-9]+)(?:\|[^<>]*)?>"
)
_USER_MENTION_RE: Final = re.compile(r"<@([^|>]*)(?:\|([^>]*))?>")
_GROUP_MENTION_RE: Final = re.compile(r"<!subteam\^([^|>]*)(?:\|([^>]*))?>")


class StepKind(StrEnum):
    TASK = "task"
    APPROVAL = "approval"
    HOOK = "hook"
    WAIT = "wait"


class AssigneeKind(StrEnum):
    USER = "user"
    GROUP = "group"
    PARAM = "param"
    MENTION = "mention"


class ParamType(StrEnum):
    USER = "user"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Assignee:
    """Who does a step.

    ``value`` is a user id (``U…``/``W…``), a group id (``S…``), a parameter name, or for
    ``MENTION`` a plain name as written after ``@`` (``alice``, ``it-team``) that the service
    resolves to a user or a group. ``label`` is the display name Slack put into an escaped
    mention (``<@U1|alice>`` gives ``alice``, ``<!subteam^S1|@it>`` gives ``it``).
    """

    kind: AssigneeKind
    value: str
    label: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ParamDef:
    name: str
    type: ParamType = ParamType.TEXT
    required: bool = True


@dataclass(frozen=True, slots=True)
class StepDef:
    """One step. ``assignee`` ``None`` means the run owner (the timer for wait steps, the
    integration for hook steps)."""

    id: str
    title: str
    kind: StepKind = StepKind.TASK
    assignee: Assignee | None = None
    hook: str | None = None
    after: tuple[str, ...] = ()
    due: timedelta | None = None
    wait: timedelta | None = None
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class WorkflowDef:
    """A workflow. ``editors`` (people who may edit it besides its owner) and ``runners`` (who
    may start runs: people and user groups; empty means anyone) are ``None`` when the
    definition does not say (the text form never does): saving it keeps the workflow's lists."""

    name: str
    title: str
    steps: tuple[StepDef, ...]
    description: str = ""
    channel: str | None = None
    params: tuple[ParamDef, ...] = ()
    editors: tuple[Assignee, ...] | None = None
    runners: tuple[Assignee, ...] | None = None

    def step(self, step_id: str) -> StepDef | None:
        """The step with this id, if any."""
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a definition: where, what, and what to write instead."""

    message: str
    line: int | None = None
    step: str | None = None
    hint: str | None = None

    def render(self) -> str:
        """E.g. ``line 3 (step laptop): after names unknown step 'dox'. Write one of: docs``."""
        where: list[str] = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.step is not None:
            where.append(f"(step {self.step})" if where else f"step {self.step}")
        text = f"{' '.join(where)}: {self.message}" if where else self.message
        if self.hint:
            text = f"{text}. {self.hint}"
        return text


class DefinitionError(ValueError):
    """A definition that cannot be used, with every problem found (never just the first)."""

    problems: tuple[Problem, ...]

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(p.render() for p in self.problems)


@dataclass(frozen=True, slots=True)
class OutputRef:
    """``{steps.<step>.output.<key>}`` in a title (``key`` may be a dotted path)."""

    step: str
    key: str
    text: str


def title_params(title: str) -> tuple[str, ...]:
    """The parameter names a title uses as ``{name}``, in order of first use."""
    names: dict[str, None] = {}
    for match in _PLACEHOLDER_RE.finditer(title):
        if PARAM_NAME_RE.fullmatch(match.group(1)):
            names.setdefault(match.group(1))
    return tuple(names)


def output_refs(title: str) -> tuple[OutputRef, ...]:
    """The well-formed output references in a title, in order."""
    refs: list[OutputRef] = []
    for match in _PLACEHOLDER_RE.finditer(title):
        ref = _OUTPUT_REF_RE.fullmatch(match.group(1))
        if ref is not None:
            refs.append(OutputRef(ref.group(1), ref.group(2), match.group(0)))
    return tuple(refs)


def malformed_refs(title: str) -> tuple[str, ...]:
    """Placeholders that start like an output reference (``{steps.``) but are not one."""
    return tuple(
        match.group(0)
        for match in _PLACEHOLDER_RE.finditer(title)
        if match.group(1).startswith("steps.") and not _OUTPUT_REF_RE.fullmatch(match.group(1))
    )


def fill_title(
    title: str,
    params: Mapping[str, str],
    outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Replace ``{name}`` and ``{steps.<id>.output.<key>}`` with values; unknown ones stay.

    A parameter whose value is empty (an optional one left out) disappears with the spaces
    before it, so ``Collect documents for {hire}`` reads ``Collect documents for``.
    """
    outputs = outputs or {}
    removed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal removed
        spaces, inner = match.group(1), match.group(2)
        if PARAM_NAME_RE.fullmatch(inner):
            value = params.get(inner)
            if value is None:
                return match.group(0)
            removed = removed or not value
            return spaces + value if value else ""
        ref = _OUTPUT_REF_RE.fullmatch(inner)
        if ref is None:
            return match.group(0)
        found: Any = outputs.get(ref.group(1))
        for part in ref.group(2).split("."):
            if not isinstance(found, Mapping) or part not in found:
                return match.group(0)
            found = found[part]
        return spaces + str(found)

    filled = _SPACED_PLACEHOLDER_RE.sub(replace, title)
    return (filled.strip() or title) if removed else filled


class AssigneeError(ValueError):
    """An assignee that cannot be read; ``hint`` says what to write instead."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_assignee(text: str, *, bare_ids: bool = False) -> Assignee:
    """Read ``@name``, ``<@U123|name>``, ``<!subteam^S123|@group>`` or ``{param}``.

    With ``bare_ids`` (the YAML form) a plain user id ``U…``/``W…`` or group id ``S…`` is
    accepted as well.
    """
    spelled = text.strip()
    if bare_ids and USER_ID_RE.fullmatch(spelled):
        return Assignee(AssigneeKind.USER, spelled)
    if bare_ids and GROUP_ID_RE.fullmatch(spelled):
        return Assignee(AssigneeKind.GROUP, spelled)
    if spelled.startswith("<@"):
        user = _USER_MENTION_RE.fullmatch(spelled)
        if user is None or not USER_ID_RE.fullmatch(user.group(1)):
            raise AssigneeError(
                f"'{spelled}' is not a Slack user mention",
                "Write @name or <@U0123ABCD> with the user's id",
            )
        return Assignee(AssigneeKind.USER, user.group(1), _label(user.group(2)))
    if spelled.startswith("<!subteam"):
        group = _GROUP_MENTION_RE.fullmatch(spelled)
        if group is None or not GROUP_ID_RE.fullmatch(group.group(1)):
            raise AssigneeError(
                f"'{spelled}' is not a Slack user group mention",
                "Write @group or <!subteam^S0123ABCD> with the group's id",
            )
        return Assignee(AssigneeKind.GROUP, group.group(1), _label(group.group(2)))
    if spelled.startswith("{"):
        inner = spelled[1:-1] if spelled.endswith("}") else None
        if inner is None or not PARAM_NAME_RE.fullmatch(inner):
            raise AssigneeError(
                f"'{spelled}' is not a parameter",
                "Write {name} with letters, digits and _ (e.g. {manager})",
            )
        return Assignee(AssigneeKind.PARAM, inner)
    if spelled.startswith("@"):
        name = spelled[1:]
        if not MENTION_RE.fullmatch(name):
            raise AssigneeError(
                f"'{spelled}' is not a user or group name",
                "Write @ and the name with letters, digits, '.', '-' or '_' (e.g. @alice)",
            )
        return Assignee(AssigneeKind.MENTION, name)
    ids = "a user id (U0123ABCD), a group id (S0123ABCD), " if bare_ids else ""
    raise AssigneeError(
        f"'{spelled}' is not an assignee",
        f"Write {ids}@name, <@U0123ABCD> or {{param}}",
    )


def _label(raw: str | None) -> str | None:
    if raw is None:
        return None
    label = raw.strip().removeprefix("@")
    return label or None


def format_assignee(assignee: Assignee, *, bare_ids: bool = False) -> str:
    """The text-form spelling (``<@U1>``, ``<!subteam^S1>``), or with ``bare_ids`` the YAML one
    (``U1``, ``S1``). Mentions are ``@name`` and parameters ``{name}`` in both."""
    match assignee.kind:
        case AssigneeKind.USER:
            return assignee.value if bare_ids else f"<@{assignee.value}>"
        case AssigneeKind.GROUP:
            return assignee.value if bare_ids else f"<!subteam^{assignee.value}>"
        case AssigneeKind.PARAM:
            return f"{{{assignee.value}}}"
        case AssigneeKind.MENTION:
            return f"@{assignee.value}"


def clean_mentions(text: str) -> str:
    """Typed mentions without Slack's ``|name``: ``<@U0BOB|bob>`` is ``<@U0BOB>``. Titles and
    descriptions are kept so: the name goes stale, and Slack shows the current one."""
    return MENTION_ENTITY_RE.sub(r"<\1>", text)


def slugify(text: str, *, underscores: bool = False, fallback: str = "step-1") -> str:
    """A guess at the slug someone meant, for hints: ``Prepare Laptop`` -> ``prepare-laptop``."""
    allowed = r"a-z0-9_-" if underscores else r"a-z0-9-"
    slug = re.sub(rf"[^{allowed}]+", "-", text.lower())
    slug = re.sub(r"^[^a-z0-9]+", "", slug)[:40].rstrip("-_")
    return slug or fallback


# -- storage form ------------------------------------------------------------------------------

_FORMAT_VERSION: Final = 1


def to_dict(defn: WorkflowDef) -> dict[str, Any]:
    """A JSON-safe dict of ``defn`` (durations as whole seconds) that :func:`from_dict` reads."""
    return {
        "format": _FORMAT_VERSION,
        "name": defn.name,
        "title": defn.title,
        "description": defn.description,
        "channel": defn.channel,
        "params": [
            {"name": p.name, "type": p.type.value, "required": p.required} for p in defn.params
        ],
        "steps": [_step_to_dict(s) for s in defn.steps],
        "editors": _people_to_list(defn.editors),
        "runners": _people_to_list(defn.runners),
    }


def _people_to_list(people: tuple[Assignee, ...] | None) -> list[dict[str, Any]] | None:
    if people is None:
        return None
    return [{"kind": a.kind.value, "value": a.value, "label": a.label} for a in people]


def _people_from_list(data: Any) -> tuple[Assignee, ...] | None:
    if data is None:
        return None
    return tuple(
        Assignee(AssigneeKind(a["kind"]), _str(a["value"]), _opt_str(a.get("label"))) for a in data
    )


def _step_to_dict(step: StepDef) -> dict[str, Any]:
    assignee = step.assignee
    return {
        "id": step.id,
        "title": step.title,
        "kind": step.kind.value,
        "assignee": None
        if assignee is None
        else {"kind": assignee.kind.value, "value": assignee.value, "label": assignee.label},
        "hook": step.hook,
        "after": list(step.after),
        "due": _seconds(step.due),
        "wait": _seconds(step.wait),
        "line": step.line,
    }


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def from_dict(data: Mapping[str, Any]) -> WorkflowDef:
    """Read what :func:`to_dict` wrote. Raises :class:`DefinitionError` on a malformed dict.

    It does not validate: a stored version stays loadable even if the rules later change.
    """
    try:
        version = data.get("format", _FORMAT_VERSION)
        if version != _FORMAT_VERSION:
            raise ValueError(f"unknown format {version!r}")
        return WorkflowDef(
            name=_str(data["name"]),
            title=_str(data["title"]),
            description=_str(data.get("description") or ""),
            channel=_opt_str(data.get("channel")),
            params=tuple(
                ParamDef(_str(p["name"]), ParamType(p["type"]), bool(p["required"]))
                for p in data.get("params") or ()
            ),
            steps=tuple(_step_from_dict(s) for s in data["steps"]),
            editors=_people_from_list(data.get("editors")),
            runners=_people_from_list(data.get("runners")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DefinitionError(
            [Problem(f"the stored definition is malformed ({type(exc).__name__}: {exc})")]
        ) from exc


def _step_from_dict(data: Mapping[str, Any]) -> StepDef:
    raw = data.get("assignee")
    assignee = (
        None
        if raw is None
        else Assignee(AssigneeKind(raw["kind"]), _str(raw["value"]), _opt_str(raw.get("label")))
    )
    line = data.get("line")
    return StepDef(
        id=_str(data["id"]),
        title=_str(data["title"]),
        kind=StepKind(data.get("kind", StepKind.TASK.value)),
        assignee=assignee,
        hook=_opt_str(data.get("hook")),
        after=tuple(_str(a) for a in data.get("after") or ()),
        due=_duration(data.get("due")),
        wait=_duration(data.get("wait")),
        line=line if isinstance(line, int) else None,
    )


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _duration(value: Any) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected seconds, got {type(value).__name__}")
    return timedelta(seconds=value)
