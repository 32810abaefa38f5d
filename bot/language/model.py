"""The workflow model: what both the text form and the YAML form describe.

Everything here is immutable and compares by value, so two parses of the same workflow are
equal. ``line`` fields and assignee labels are carried along for messages but never compared.
Beside it: ``assignees`` (how people are written), ``placeholders`` (``{...}`` in titles) and
``stored_form`` (the JSON kept in the database).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Final

from storage.vocabulary import AssigneeKind, StepKind

__all__ = [
    "CLAUSES_HINT",
    "GROUP_ID_RE",
    "INTEGRATION_NAME_RE",
    "MAX_STEPS",
    "MAX_TITLE",
    "MENTION_RE",
    "PARAM_NAME_RE",
    "STEP_ID_RE",
    "USER_ID_RE",
    "WORKFLOW_NAME_RE",
    "Assignee",
    "DefinitionError",
    "ParamDef",
    "ParamType",
    "Problem",
    "StepDef",
    "WorkflowDef",
    "slugify",
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


def slugify(text: str, *, underscores: bool = False, fallback: str = "step-1") -> str:
    """A guess at the slug someone meant, for hints: ``Prepare Laptop`` -> ``prepare-laptop``."""
    allowed = r"a-z0-9_-" if underscores else r"a-z0-9-"
    slug = re.sub(rf"[^{allowed}]+", "-", text.lower())
    slug = re.sub(r"^[^a-z0-9]+", "", slug)[:40].rstrip("-_")
    return slug or fallback
