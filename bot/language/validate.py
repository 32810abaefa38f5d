"""Rules every workflow definition obeys, whichever form it was written in.

:func:`validate` collects every problem (not just the first), each with the line and step at
fault and what to write instead. The parsers call it, so a parsed definition is always valid
apart from integrations, which only the caller knows: pass them as ``integrations``.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from typing import Final, Literal

from bot.language.duration import DURATION_HINT, duration_problem
from bot.language.model import (
    CHANNEL_ID_RE,
    GROUP_ID_RE,
    INTEGRATION_NAME_RE,
    MAX_DESCRIPTION,
    MAX_STEPS,
    MAX_TITLE,
    MENTION_RE,
    PARAM_NAME_RE,
    STEP_ID_RE,
    USER_ID_RE,
    WORKFLOW_NAME_RE,
    DefinitionError,
    ParamType,
    Problem,
    StepDef,
    WorkflowDef,
    slugify,
)
from bot.language.placeholders import malformed_refs, output_refs, title_params
from bot.language.step_graph import ancestors, find_cycles
from storage.vocabulary import AssigneeKind, StepKind

__all__ = ["require_valid", "sort_problems", "validate"]

Form = Literal["text", "yaml", "any"]

_BAD_TEXT_CATEGORIES: Final = frozenset({"Cc", "Cs", "Zl", "Zp"})
_MAX_LISTED: Final = 8


def validate(
    defn: WorkflowDef, *, integrations: Collection[str] | None = None
) -> tuple[Problem, ...]:
    """Every problem with ``defn``; empty when it is valid.

    With ``integrations`` (the names registered in the workspace), a hook step naming another
    integration is a problem too.
    """
    return check_definition(defn, integrations=integrations, form="any")


def require_valid(defn: WorkflowDef, *, integrations: Collection[str] | None = None) -> WorkflowDef:
    """``defn`` itself when it is valid; raises :class:`DefinitionError` otherwise."""
    problems = validate(defn, integrations=integrations)
    if problems:
        raise DefinitionError(problems)
    return defn


def sort_problems(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """Workflow-wide problems first, then by line; otherwise in the order found. No repeats."""
    unique = list(dict.fromkeys(problems))
    return tuple(sorted(unique, key=lambda p: -1 if p.line is None else p.line))


def check_definition(
    defn: WorkflowDef, *, integrations: Collection[str] | None, form: Form
) -> tuple[Problem, ...]:
    """:func:`validate` with hints worded for the form the definition was written in."""
    problems: list[Problem] = []
    problems += _check_workflow(defn, form)
    problems += _check_params(defn, form)
    ids = [s.id for s in defn.steps]
    first_line: dict[str, int | None] = {}
    for step in defn.steps:
        if step.id in first_line:
            where = first_line[step.id]
            problems.append(
                Problem(
                    f"step id '{step.id}' is used twice"
                    + (f" (first on line {where})" if where is not None else ""),
                    step.line,
                    step.id,
                    "Give each step its own id",
                )
            )
        else:
            first_line[step.id] = step.line
        problems += _check_step(defn, step, ids, integrations, form)
    for cycle in find_cycles(defn):
        head = defn.step(cycle[0])
        problems.append(
            Problem(
                f"these steps wait on each other in a cycle: {' -> '.join(cycle)}",
                head.line if head else None,
                cycle[0],
                "Remove one of these after links so that the steps can start",
            )
        )
    problems += _check_output_refs(defn)
    return sort_problems(problems)


def _check_workflow(defn: WorkflowDef, form: Form) -> list[Problem]:
    problems: list[Problem] = []
    if not WORKFLOW_NAME_RE.fullmatch(defn.name):
        problems.append(
            Problem(
                f"the workflow name '{defn.name}' is not valid",
                hint=(
                    "Use up to 40 lowercase letters, digits and '-', starting with a letter or "
                    f"digit, e.g. '{slugify(defn.name, fallback='onboarding')}'"
                ),
            )
        )
    title_problem = _text_problem(defn.title, "workflow title")
    if title_problem:
        problems.append(Problem(title_problem[0], hint=title_problem[1]))
    if len(defn.description) > MAX_DESCRIPTION or any(
        unicodedata.category(c) == "Cs" for c in defn.description
    ):
        problems.append(
            Problem(
                f"the description is longer than {MAX_DESCRIPTION} characters or not valid text",
                hint="Shorten it",
            )
        )
    if defn.channel is not None and not CHANNEL_ID_RE.fullmatch(defn.channel):
        problems.append(
            Problem(
                f"the channel '{defn.channel}' is not a Slack channel id",
                hint="Write the channel's id, e.g. C0123456789 (channel details, at the bottom)",
            )
        )
    if not defn.steps:
        example = (
            "steps: [{id: docs, title: Collect documents}]"
            if form == "yaml"
            else "docs: Collect documents @alice"
        )
        problems.append(Problem("the workflow has no steps", hint=f"Add at least one: {example}"))
    elif len(defn.steps) > MAX_STEPS:
        problems.append(
            Problem(
                f"the workflow has {len(defn.steps)} steps; at most {MAX_STEPS} are allowed",
                hint="Split it into smaller workflows",
            )
        )
    return problems


def _check_params(defn: WorkflowDef, form: Form) -> list[Problem]:
    problems: list[Problem] = []
    declared: dict[str, ParamType] = {}
    for param in defn.params:
        if not PARAM_NAME_RE.fullmatch(param.name):
            problems.append(
                Problem(
                    f"the parameter name '{param.name}' is not valid",
                    hint="Use letters, digits and _ (not first), at most 40, e.g. 'manager'",
                )
            )
        if param.name in declared:
            problems.append(
                Problem(f"the parameter '{param.name}' is declared twice", hint="Keep one")
            )
        declared.setdefault(param.name, param.type)
    declare = "under params:" if form == "yaml" else "in params"
    for step in defn.steps:
        used = dict.fromkeys(title_params(step.title), "text")
        assigned = (
            step.assignee.value
            if step.assignee is not None and step.assignee.kind is AssigneeKind.PARAM
            else None
        )
        if assigned is not None:
            used[assigned] = "user"
        for name, kind in used.items():
            if name not in declared:
                problems.append(
                    Problem(
                        f"{{{name}}} is used but not declared as a parameter",
                        step.line,
                        step.id,
                        f"Declare it {declare}, e.g. {name}: {{type: {kind}}}",
                    )
                )
        if assigned is not None and declared.get(assigned) is ParamType.TEXT:
            problems.append(
                Problem(
                    f"the parameter {{{assigned}}} is the assignee, so it must be of type user",
                    step.line,
                    step.id,
                    f"Declare it as param {assigned} user"
                    if form == "text"
                    else f"Declare it as {assigned}: {{type: user}}",
                )
            )
    return problems


def _check_step(
    defn: WorkflowDef,
    step: StepDef,
    ids: Sequence[str],
    integrations: Collection[str] | None,
    form: Form,
) -> list[Problem]:
    problems: list[Problem] = []

    def add(message: str, hint: str | None = None) -> None:
        problems.append(Problem(message, step.line, step.id or None, hint))

    if not STEP_ID_RE.fullmatch(step.id):
        shown = f"'{step.id}'" if step.id else "(empty)"
        add(
            f"the step id {shown} is not valid",
            "Use up to 40 lowercase letters, digits, '-' and '_', starting with a letter or "
            f"digit, e.g. '{slugify(step.id or step.title, underscores=True)}'",
        )
    title_problem = _text_problem(step.title, "title")
    if title_problem:
        message, hint = title_problem
        if form == "text" and not step.title.strip():
            hint = (
                f"Write the title after '{step.id}:'; put it in quotes if it starts with a "
                "clause word such as after, due, wait or approval"
            )
        add(message, hint)
    for bad in malformed_refs(step.title):
        add(
            f"the title uses '{bad}', which is not an output reference",
            "Write {steps.<id>.output.<key>}, e.g. {steps.accounts.output.login}",
        )
    for message, hint in _kind_problems(step):
        add(message, hint)
    assignee = step.assignee
    if assignee is not None:
        patterns = {
            AssigneeKind.USER: (USER_ID_RE, "a Slack user id such as U0123ABCD"),
            AssigneeKind.GROUP: (GROUP_ID_RE, "a Slack user group id such as S0123ABCD"),
            AssigneeKind.PARAM: (PARAM_NAME_RE, "a parameter name such as manager"),
            AssigneeKind.MENTION: (MENTION_RE, "a name such as alice"),
        }
        pattern, what = patterns[assignee.kind]
        if not pattern.fullmatch(assignee.value):
            add(f"the assignee '{assignee.value}' is not valid", f"Write {what}")
    seen: set[str] = set()
    for dep in step.after:
        if dep in seen:
            add(f"after lists '{dep}' twice", "List each step once")
            continue
        seen.add(dep)
        if dep not in ids:
            others = [i for i in dict.fromkeys(ids) if i != step.id]
            add(f"after names unknown step '{dep}'", _choices_hint(dep, others))
    for clause, value in (("due", step.due), ("wait", step.wait)):
        if value is not None:
            why = duration_problem(value)
            if why:
                add(f"{clause} {why}", DURATION_HINT)
    if step.hook is not None and integrations is not None and step.hook not in integrations:
        known = sorted(integrations)
        add(
            f"there is no integration named '{step.hook}'",
            f"Add it with /baton hook add {step.hook} <url>"
            + (f", or write one of: {_listing(known)}" if known else ""),
        )
    return problems


def _kind_problems(step: StepDef) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if step.kind is StepKind.HOOK:
        if step.hook is None:
            found.append(
                ("a hook step needs an integration", "Write hook:<integration>, e.g. hook:okta")
            )
        elif not INTEGRATION_NAME_RE.fullmatch(step.hook):
            found.append(
                (
                    f"'{step.hook}' is not a valid integration name",
                    "Use lowercase letters, digits, '-' and '_', e.g. hook:okta",
                )
            )
        if step.assignee is not None:
            found.append(
                (
                    "a hook step is done by its integration, so it has no assignee",
                    "Remove the assignee, or make it a task without hook",
                )
            )
    elif step.hook is not None:
        found.append(
            (
                f"only a hook step names an integration, but this is a {step.kind.value} step",
                "Remove the hook, or make the step a hook step",
            )
        )
    if step.kind is StepKind.WAIT:
        if step.wait is None:
            found.append(("a wait step needs a duration", "Write e.g. wait 2d"))
        if step.assignee is not None:
            found.append(
                (
                    "a wait step is done by a timer, so it has no assignee",
                    "Remove the assignee, or use due instead of wait",
                )
            )
        if step.due is not None:
            found.append(("a wait step cannot also have due", "Remove due; wait is its duration"))
    elif step.wait is not None:
        found.append(
            (
                f"only a wait step has a wait duration, but this is a {step.kind.value} step",
                "Remove the wait, or use due for a deadline",
            )
        )
    return found


def _check_output_refs(defn: WorkflowDef) -> list[Problem]:
    problems: list[Problem] = []
    ids = [s.id for s in defn.steps]
    for step in defn.steps:
        for ref in output_refs(step.title):
            if ref.step not in ids:
                problems.append(
                    Problem(
                        f"{ref.text} refers to unknown step '{ref.step}'",
                        step.line,
                        step.id,
                        _choices_hint(ref.step, [i for i in ids if i != step.id]),
                    )
                )
            elif ref.step not in ancestors(defn, step.id):
                problems.append(
                    Problem(
                        f"{ref.text} uses the output of '{ref.step}', "
                        "which this step does not come after",
                        step.line,
                        step.id,
                        f"Add 'after {ref.step}' to this step",
                    )
                )
    return problems


def _text_problem(text: str, what: str) -> tuple[str, str] | None:
    if not text.strip():
        return (f"the {what} is empty", f"Write a {what}")
    if len(text) > MAX_TITLE:
        return (
            f"the {what} has {len(text)} characters; at most {MAX_TITLE} are allowed",
            "Shorten it; details can go into the workflow's description",
        )
    bad = next((c for c in text if unicodedata.category(c) in _BAD_TEXT_CATEGORIES), None)
    if bad is not None:
        return (
            f"the {what} contains a line break or control character ({bad!r})",
            f"Write the {what} on one line",
        )
    return None


def _choices_hint(wrong: str, choices: Sequence[str]) -> str:
    if not choices:
        return "Write the id of another step of this workflow"
    close = difflib.get_close_matches(wrong, choices, n=3, cutoff=0.5)
    return f"Write one of: {_listing(close or choices)}"


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        shown += f" (and {len(items) - _MAX_LISTED} more)"
    return shown
