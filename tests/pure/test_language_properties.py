"""Property tests of the workflow language: no input crashes it, and valid definitions
round-trip through the text form, the YAML form and the storage dict."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.language import (
    Assignee,
    DefinitionError,
    ParamDef,
    ParamType,
    StepDef,
    WorkflowDef,
    format_text,
    format_yaml,
    from_dict,
    make_plan,
    output_refs,
    parse_text,
    parse_yaml,
    step_duration,
    title_params,
    to_dict,
    validate,
)
from storage.vocabulary import AssigneeKind, StepKind

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- any input ---------------------------------------------------------------------------------

CLAUSE_TOKENS = [
    "after", "due", "wait", "approval", "hook:", "hook:okta", "@alice", "@", "@it-team",
    "<@U123>", "<@U123|alice>", "<@", "<!subteam^S123|@it>", "<!subteam^S1>", "<!subteam",
    "{manager}", "{", "}", "{steps.a.output.k}", "{steps.x}", "{bad name}", "1d", "4h", "0m",
    "1d4h", "400d", "1x", "99999999999999999999w", ",", "a,", ",b", "a", "b", "docs", "A",
    '"', '\\"', "\\", ";", ":", "a:", "b:", "docs:", "#", "\n", "\r\n", " ", "\t", "\u2028",
    "\x00", "Title", "After", "Due",
]  # fmt: skip

YAML_TOKENS = [
    "name:", "title:", "description:", "channel:", "params:", "steps:", "id:", "kind:",
    "assignee:", "hook:", "after:", "due:", "wait:", "type:", "required:", "user", "text",
    "true", "no", "null", "~", "-", "- ", "{", "}", "[", "]", ",", ":", "&a", "*a", "!!str",
    "!foo", "<<:", "'", '"', "|", ">", "#", "\n", "\n  ", "\n    ", " ", "\t", "a", "b",
    "onboarding", "1d", "x1", "123", "U0ALICE", "S0GROUP", "@alice", "{manager}", "'{m}'",
    "C0123", "approval", "hook", "task", "---", "...", "%YAML 1.1", "\x00", "\ufeff",
]  # fmt: skip

clause_text = st.lists(st.sampled_from(CLAUSE_TOKENS) | st.text(max_size=4), max_size=40).map(
    lambda parts: " ".join(parts) if len(parts) % 3 else "".join(parts)
)
yaml_text = st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=3), max_size=50).map("".join)


def _outcome(parse: Callable[[], WorkflowDef]) -> WorkflowDef | DefinitionError:
    try:
        return parse()
    except DefinitionError as exc:
        return exc


def _explains(error: DefinitionError) -> None:
    assert error.problems
    assert all(p.message for p in error.problems)
    assert str(error) == "\n".join(p.render() for p in error.problems)


def _parses_or_explains_text(name: str, title: str, body: str) -> None:
    result = _outcome(lambda: parse_text(name, title, body))
    if isinstance(result, DefinitionError):
        _explains(result)
        return
    assert validate(result) == ()
    again = parse_text(
        result.name,
        result.title,
        format_text(result),
        description=result.description,
        channel=result.channel,
    )
    assert again == result


def _parses_or_explains_yaml(text: str) -> None:
    result = _outcome(lambda: parse_yaml(text))
    if isinstance(result, DefinitionError):
        _explains(result)
        return
    assert validate(result) == ()
    assert parse_yaml(format_yaml(result)) == result


@FAST
@given(st.text(), st.text(), st.text())
def test_any_text_gives_a_definition_or_a_definition_error(
    name: str, title: str, body: str
) -> None:
    _parses_or_explains_text(name, title, body)


@FAST
@given(clause_text)
def test_clause_like_text_gives_a_definition_or_a_definition_error(body: str) -> None:
    _parses_or_explains_text("wf", "A workflow", body)


@FAST
@given(st.lists(clause_text, min_size=1, max_size=4))
def test_step_like_lines_give_a_definition_or_a_definition_error(lines: list[str]) -> None:
    body = "\n".join(f"s{n}: {line}" for n, line in enumerate(lines))
    _parses_or_explains_text("wf", "A workflow", body)


@FAST
@given(st.text())
def test_any_text_as_yaml_gives_a_definition_or_a_definition_error(text: str) -> None:
    _parses_or_explains_yaml(text)


@FAST
@given(yaml_text)
def test_yaml_like_text_gives_a_definition_or_a_definition_error(text: str) -> None:
    _parses_or_explains_yaml(text)


@FAST
@given(yaml_text)
def test_yaml_like_steps_give_a_definition_or_a_definition_error(text: str) -> None:
    _parses_or_explains_yaml(f"name: wf\nsteps:\n  - {{id: a, title: {text}}}\n  - {text}\n")


# -- valid definitions round-trip ----------------------------------------------------------------

TITLE_CHARS = st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"])
TITLE_WORDS = [
    "Collect", "documents", "after", "due", "wait", "approval", "@bob", "{hire}", "{who}",
    "{hire}'s", ";", '"quoted"', '"', "\\", '\\"', "hook:x", "<@U123>", "<!subteam^S1>",
    "Afterparty", "After", ":", "#1", "{}", "{bad name}", "<a b>", "<", ">", "@", ",", "1d",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "  ", "\u00a0", "\u3000", ""]

step_ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,6}", fullmatch=True)
param_names = st.sampled_from(["hire", "manager", "who", "Due_Date"])
description_chars = st.characters(exclude_categories=["Cs"])
descriptions = st.text(description_chars, max_size=40) | st.lists(
    st.text(description_chars, max_size=12), max_size=4
).map("\n".join)
minutes = st.integers(min_value=1, max_value=365 * 24 * 60).map(lambda m: timedelta(minutes=m))


@st.composite
def titles(draw: st.DrawFn, refs: list[str]) -> str:
    words = st.sampled_from(TITLE_WORDS) | st.text(TITLE_CHARS, min_size=1, max_size=6)
    if refs:
        words |= st.sampled_from([f"{{steps.{r}.output.key}}" for r in refs])
    parts = draw(st.lists(words, min_size=1, max_size=6))
    title = ""
    for part in parts:
        title += draw(st.sampled_from(SEPARATORS)) + part
    if draw(st.booleans()):
        title = title.strip()
    assume(title.strip() and len(title) <= 200)
    return title


@st.composite
def assignees(draw: st.DrawFn) -> Assignee:
    kind = draw(st.sampled_from(AssigneeKind))
    label = draw(st.none() | st.text(max_size=5))
    if kind is AssigneeKind.USER:
        return Assignee(kind, draw(st.from_regex(r"[UW][A-Z0-9]{2,10}", fullmatch=True)), label)
    if kind is AssigneeKind.GROUP:
        return Assignee(kind, draw(st.from_regex(r"S[A-Z0-9]{2,10}", fullmatch=True)), label)
    if kind is AssigneeKind.PARAM:
        return Assignee(kind, draw(param_names))
    return Assignee(kind, draw(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}", fullmatch=True)))


@st.composite
def step_lists(draw: st.DrawFn) -> tuple[StepDef, ...]:
    ids = draw(st.lists(step_ids, min_size=1, max_size=7, unique=True))
    steps: list[StepDef] = []
    before: dict[str, set[str]] = {}
    for index, step_id in enumerate(ids):
        after = (
            tuple(draw(st.lists(st.sampled_from(ids[:index]), max_size=3, unique=True)))
            if index
            else ()
        )
        before[step_id] = set(after).union(*(before[a] for a in after))
        kind = draw(st.sampled_from(StepKind))
        step = StepDef(
            id=step_id,
            title=draw(titles(sorted(before[step_id]))),
            kind=kind,
            assignee=None
            if kind in (StepKind.HOOK, StepKind.WAIT)
            else draw(st.none() | assignees()),
            hook=draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True))
            if kind is StepKind.HOOK
            else None,
            after=after,
            due=None if kind is StepKind.WAIT else draw(st.none() | minutes),
            wait=draw(minutes) if kind is StepKind.WAIT else None,
        )
        steps.append(step)
    return tuple(steps)


def implied_params(steps: tuple[StepDef, ...]) -> tuple[ParamDef, ...]:
    types: dict[str, ParamType] = {}
    for step in steps:
        for name in title_params(step.title):
            types.setdefault(name, ParamType.TEXT)
        if step.assignee is not None and step.assignee.kind is AssigneeKind.PARAM:
            types[step.assignee.value] = ParamType.USER
    return tuple(ParamDef(name, kind) for name, kind in types.items())


@st.composite
def definitions(draw: st.DrawFn, *, declared: bool) -> WorkflowDef:
    """Valid definitions; with ``declared`` the params are free (as YAML declares them),
    otherwise exactly those the text form implies."""
    steps = draw(step_lists())
    params = implied_params(steps)
    if declared:
        free = [
            ParamDef(
                p.name,
                draw(st.sampled_from(ParamType)) if p.type is ParamType.TEXT else p.type,
                draw(st.booleans()),
            )
            for p in params
        ]
        extra = draw(st.lists(st.sampled_from(["spare", "unused_one"]), unique=True))
        free += [
            ParamDef(name, draw(st.sampled_from(ParamType)), draw(st.booleans())) for name in extra
        ]
        params = tuple(draw(st.permutations(free)))
    defn = WorkflowDef(
        name=draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True)),
        title=draw(titles([])),
        steps=steps,
        description=draw(descriptions),
        channel=draw(st.none() | st.from_regex(r"C[A-Z0-9]{2,10}", fullmatch=True)),
        params=params,
    )
    problems = validate(defn)
    assert problems == (), problems  # the generator makes valid definitions only
    return defn


def one_kind_of_break(defn: WorkflowDef) -> WorkflowDef:
    """``defn`` as the text form gives it back: its description's line breaks all ``\n``."""
    lines = re.split(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]", defn.description)
    return replace(defn, description="\n".join(lines))


@FAST
@given(definitions(declared=False))
def test_valid_definitions_round_trip_through_text(defn: WorkflowDef) -> None:
    text = format_text(defn)
    again = parse_text(defn.name, defn.title, text)
    assert again == one_kind_of_break(defn)
    assert format_text(again) == format_text(one_kind_of_break(defn))


people = st.lists(assignees(), max_size=4, unique_by=lambda a: (a.kind, a.value))


@FAST
@given(definitions(declared=True), people, people)
def test_declared_params_editors_and_runners_round_trip_through_text(
    defn: WorkflowDef, editors: list[Assignee], runners: list[Assignee]
) -> None:
    with_access = replace(
        defn,
        editors=tuple(a for a in editors if a.kind in (AssigneeKind.USER, AssigneeKind.MENTION)),
        runners=tuple(a for a in runners if a.kind is not AssigneeKind.PARAM),
    )
    again = parse_text(defn.name, defn.title, format_text(with_access))
    assert again == one_kind_of_break(with_access)


@FAST
@given(definitions(declared=True))
def test_valid_definitions_round_trip_through_yaml(defn: WorkflowDef) -> None:
    text = format_yaml(defn)
    again = parse_yaml(text)
    assert again == defn
    assert format_yaml(again) == text


@FAST
@given(definitions(declared=True), st.text(max_size=3000), st.integers(5, 60))
def test_folded_yaml_reads_back_the_same(defn: WorkflowDef, description: str, fold: int) -> None:
    """`export` folds long texts (YAML's escaped line breaks) to cut its message into parts
    where lines end: whatever the text, what is read back is what was written."""
    defn = replace(defn, description=description.strip())
    if validate(defn):
        return
    assert parse_yaml(format_yaml(defn, fold=fold)) == defn


@FAST
@given(definitions(declared=False))
def test_text_to_yaml_to_text_is_equal(defn: WorkflowDef) -> None:
    text = format_text(defn)
    parsed = parse_text(
        defn.name, defn.title, text, description=defn.description, channel=defn.channel
    )
    via_yaml = parse_yaml(format_yaml(parsed))
    assert via_yaml == parsed
    assert format_text(via_yaml) == text


@FAST
@given(definitions(declared=True))
def test_storage_dict_round_trips_and_is_json(defn: WorkflowDef) -> None:
    data = json.loads(json.dumps(to_dict(defn)))
    again = from_dict(data)
    assert again == defn
    assert [s.line for s in again.steps] == [s.line for s in defn.steps]
    assert [s.assignee.label if s.assignee else None for s in again.steps] == [
        s.assignee.label if s.assignee else None for s in defn.steps
    ]


@FAST
@given(definitions(declared=True))
def test_plan_is_consistent(defn: WorkflowDef) -> None:
    plan = make_plan(defn)
    ids = [s.id for s in defn.steps]
    steps = {s.id: s for s in defn.steps}
    assert sorted(plan.order) == sorted(ids)
    position = {step_id: n for n, step_id in enumerate(plan.order)}
    level = {step_id: n for n, group in enumerate(plan.groups) for step_id in group}
    assert sorted(level) == sorted(ids)
    for step in defn.steps:
        for dep in step.after:
            assert position[dep] < position[step.id]
            assert level[dep] < level[step.id]
        if step.after:  # as early as possible: right after its latest dependency
            assert level[step.id] == 1 + max(level[d] for d in step.after)
        else:
            assert level[step.id] == 0
    path = plan.critical_path
    assert path
    for first, second in itertools.pairwise(path):
        assert first in steps[second].after
    assert plan.critical_duration == sum((step_duration(steps[s]) for s in path), timedelta(0))
    assert all(r.step in ids for s in defn.steps for r in output_refs(s.title))
