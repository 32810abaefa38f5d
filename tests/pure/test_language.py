"""The workflow language: text form, YAML form, validation, model helpers."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta

import pytest

from bot.language import (
    Assignee,
    DefinitionError,
    ParamDef,
    ParamType,
    Problem,
    StepDef,
    WorkflowDef,
    fill_title,
    format_duration,
    format_text,
    format_yaml,
    from_dict,
    parse_duration,
    parse_text,
    parse_yaml,
    require_valid,
    to_dict,
    validate,
)
from storage.vocabulary import AssigneeKind, StepKind

SPEC_TEXT = """\
docs: Collect signed documents @alice due 1d
laptop: Prepare laptop @it-team after docs due 2d
accounts: Create accounts hook:okta after docs
lunch: "Welcome lunch" {manager} after laptop, accounts
signoff: Sign-off {manager} approval after lunch due 4h"""

SPEC_YAML = """\
name: onboarding
title: Onboard a new hire
channel: C0123456789            # optional default channel for run cards
params:
  manager: {type: user, required: true}
  hire: {type: text}
steps:
  - {id: docs, title: "Collect signed documents for {hire}", assignee: U0ALICE, due: 1d}
  - {id: laptop, title: Prepare laptop, assignee: "@it-team", after: [docs], due: 2d}
  - {id: accounts, title: Create accounts, hook: okta, after: [docs]}
  - {id: lunch, title: Welcome lunch, assignee: "{manager}", after: [laptop, accounts]}
  - {id: signoff, title: Sign-off, kind: approval, assignee: "{manager}", after: [lunch], due: 4h}
"""

MANAGER = Assignee(AssigneeKind.PARAM, "manager")


def onboarding_text_def() -> WorkflowDef:
    return WorkflowDef(
        name="onboarding",
        title="Onboard a new hire",
        steps=(
            StepDef(
                "docs",
                "Collect signed documents",
                assignee=Assignee(AssigneeKind.MENTION, "alice"),
                due=timedelta(days=1),
            ),
            StepDef(
                "laptop",
                "Prepare laptop",
                assignee=Assignee(AssigneeKind.MENTION, "it-team"),
                after=("docs",),
                due=timedelta(days=2),
            ),
            StepDef("accounts", "Create accounts", StepKind.HOOK, hook="okta", after=("docs",)),
            StepDef("lunch", "Welcome lunch", assignee=MANAGER, after=("laptop", "accounts")),
            StepDef(
                "signoff",
                "Sign-off",
                StepKind.APPROVAL,
                assignee=MANAGER,
                after=("lunch",),
                due=timedelta(hours=4),
            ),
        ),
        params=(ParamDef("manager", ParamType.USER),),
    )


def problems_of(body: str, *, name: str = "wf", title: str = "A workflow") -> list[Problem]:
    with pytest.raises(DefinitionError) as caught:
        parse_text(name, title, body)
    return list(caught.value.problems)


def yaml_problems(text: str) -> list[Problem]:
    with pytest.raises(DefinitionError) as caught:
        parse_yaml(text)
    return list(caught.value.problems)


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [p.render() for p in problems]
    return problems[0]


# -- the model ---------------------------------------------------------------------------------


def test_problem_renders_line_step_message_and_hint() -> None:
    problem = Problem("after names unknown step 'dox'", 3, "laptop", "Write one of: docs, accounts")
    assert problem.render() == (
        "line 3 (step laptop): after names unknown step 'dox'. Write one of: docs, accounts"
    )
    assert Problem("the workflow has no steps").render() == "the workflow has no steps"
    assert Problem("bad", step="x").render() == "step x: bad"


def test_definition_error_lists_every_problem_and_pickles() -> None:
    error = DefinitionError([Problem("one", 1), Problem("two", 2, hint="Fix it")])
    assert isinstance(error, ValueError)
    assert str(error) == "line 1: one\nline 2: two. Fix it"
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == error.problems


def test_labels_and_lines_do_not_take_part_in_equality() -> None:
    assert Assignee(AssigneeKind.USER, "U1", "alice") == Assignee(AssigneeKind.USER, "U1")
    assert StepDef("a", "A", line=3) == StepDef("a", "A", line=9)


def test_storage_dict_round_trips_and_is_json() -> None:
    defn = parse_yaml(SPEC_YAML)
    data = to_dict(defn)
    assert data["steps"][0]["due"] == 86400
    assert from_dict(json.loads(json.dumps(data))) == defn


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"name": "x", "title": "t", "steps": [{"id": 1}]},
        {"name": "x", "title": "t", "steps": 3},
    ],
)
def test_a_malformed_storage_dict_is_a_definition_error(data: dict[str, object]) -> None:
    with pytest.raises(DefinitionError, match="stored definition is malformed"):
        from_dict(data)


def test_fill_title_replaces_params_and_outputs_and_leaves_the_rest() -> None:
    title = "Mail {hire} at {steps.accounts.output.login.email} {unknown} {not a param}"
    outputs = {"accounts": {"login": {"email": "ana@example.com"}}}
    assert fill_title(title, {"hire": "Ana"}, outputs) == (
        "Mail Ana at ana@example.com {unknown} {not a param}"
    )


# -- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1d4h", timedelta(days=1, hours=4)),
        ("4h1d", timedelta(days=1, hours=4)),
        ("1w2d3h4m", timedelta(days=9, hours=3, minutes=4)),
        ("365d", timedelta(days=365)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "needs a duration"),
        ("0m", "longer than zero"),
        ("366d", "longer than 365 days"),
        ("53w", "longer than 365 days"),
        ("99999999999999999999w", "longer than 365 days"),
        ("1x", "unknown unit 'x'"),
        ("1d1d", "gives 'd' twice"),
        ("1.5h", "not a duration"),
        ("tomorrow", "not a duration"),
        ("d", "not a duration"),
    ],
)
def test_bad_durations_say_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(days=1, hours=4), "1d4h"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=7), "1w"),
        (timedelta(days=9), "1w2d"),
        (timedelta(0), "0m"),
    ],
)
def test_durations_format_canonically(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


# -- the text form -----------------------------------------------------------------------------


def test_the_spec_example_parses() -> None:
    assert parse_text("onboarding", "Onboard a new hire", SPEC_TEXT) == onboarding_text_def()


def test_the_spec_example_formats_canonically() -> None:
    defn = parse_text("onboarding", "Onboard a new hire", SPEC_TEXT)
    assert format_text(defn) == SPEC_TEXT.replace('"Welcome lunch"', "Welcome lunch")


def test_lines_count_from_one_and_skip_blank_and_comment_lines() -> None:
    defn = parse_text("wf", "T", "\n# the first step\na: First\n\nb: Second; c: Third\n")
    assert [(s.id, s.line) for s in defn.steps] == [("a", 3), ("b", 5), ("c", 5)]


def test_semicolons_separate_steps_sharing_a_line_number() -> None:
    problem = only(problems_of("a: First; b: Second after zz"))
    assert (problem.line, problem.step) == (1, "b")


def test_clauses_come_in_any_order() -> None:
    canonical = parse_text("wf", "T", "a: A; b: Do it <@U123> approval after a due 1d4h")
    shuffled = parse_text("wf", "T", "a: A; b: Do it due 4h1d after a approval <@U123>")
    assert shuffled == canonical
    assert format_text(shuffled) == "a: A\nb: Do it <@U123> approval after a due 1d4h"


@pytest.mark.parametrize(
    ("line", "title"),
    [
        ('a: "Follow up after lunch" @alice', "Follow up after lunch"),
        ('a: "Lunch; then coffee"', "Lunch; then coffee"),
        ('a: "  padded  "', "  padded  "),
        (r'a: "Say \"hi\" to \\ everyone" due 1h', r'Say "hi" to \ everyone'),
        ('a: "Ping @bob and {who}"', "Ping @bob and {who}"),
        (
            "a: Afterparty for the Due diligence team @alice",
            "Afterparty for the Due diligence team",
        ),
        ("a: Tidy    the   spacing @alice", "Tidy the spacing"),
        ('a: Say "hi" to ana', 'Say "hi" to ana'),
        ("a: Mail bob@example.com: re {hire}'s visa", "Mail bob@example.com: re {hire}'s visa"),
        ("a: Check <https://example.com|the site>", "Check <https://example.com|the site>"),
    ],
)
def test_titles(line: str, title: str) -> None:
    step = parse_text("wf", "T", line).steps[0]
    assert step.title == title


@pytest.mark.parametrize(
    ("title", "line"),
    [
        ("Follow up after lunch", 'a: "Follow up after lunch"'),
        ("approval", 'a: "approval"'),
        ("Lunch; coffee", 'a: "Lunch; coffee"'),
        (" padded", 'a: " padded"'),
        ('"Quoted" start', r'a: "\"Quoted\" start"'),
        ("Ping @bob", 'a: "Ping @bob"'),
        ("For {hire}", 'a: "For {hire}"'),
        ("hook:x marks", 'a: "hook:x marks"'),
        ("Two  spaces", 'a: "Two  spaces"'),
        ("Back\\slash after", 'a: "Back\\\\slash after"'),
        ("Plain {hire}'s title", "a: Plain {hire}'s title"),
        ("Afterparty", "a: Afterparty"),
    ],
)
def test_titles_are_quoted_only_when_needed(title: str, line: str) -> None:
    defn = WorkflowDef(
        "wf",
        "T",
        (StepDef("a", title),),
        params=tuple(ParamDef("hire") for _ in range("{hire}" in title)),
    )
    assert format_text(defn) == line
    assert parse_text("wf", "T", line) == defn


@pytest.mark.parametrize(
    ("clause", "assignee"),
    [
        ("@alice", Assignee(AssigneeKind.MENTION, "alice")),
        ("@it-team", Assignee(AssigneeKind.MENTION, "it-team")),
        ("<@U123>", Assignee(AssigneeKind.USER, "U123")),
        ("<@W123|alice>", Assignee(AssigneeKind.USER, "W123", "alice")),
        ("<!subteam^S123|@it-team>", Assignee(AssigneeKind.GROUP, "S123", "it-team")),
        ("<!subteam^S123>", Assignee(AssigneeKind.GROUP, "S123")),
        ("{manager}", Assignee(AssigneeKind.PARAM, "manager")),
    ],
)
def test_assignee_clauses(clause: str, assignee: Assignee) -> None:
    step = parse_text("wf", "T", f"a: Do it {clause}").steps[0]
    assert step.assignee == assignee
    assert step.assignee is not None
    assert step.assignee.label == assignee.label


def test_users_and_groups_format_as_escaped_mentions() -> None:
    defn = parse_text("wf", "T", "a: A <@U123|alice>; b: B <!subteam^S09|@ops>; c: C @ana")
    assert format_text(defn) == "a: A <@U123>\nb: B <!subteam^S09>\nc: C @ana"


def test_a_hook_step() -> None:
    step = parse_text("wf", "T", "a: Create accounts hook:okta due 1h").steps[0]
    assert (step.kind, step.hook, step.assignee, step.due) == (
        StepKind.HOOK,
        "okta",
        None,
        timedelta(hours=1),
    )


def test_a_wait_step() -> None:
    defn = parse_text("wf", "T", "a: A; cool: Cool-off wait 2d after a")
    step = defn.steps[1]
    assert (step.kind, step.wait, step.assignee) == (StepKind.WAIT, timedelta(days=2), None)
    assert format_text(defn) == "a: A\ncool: Cool-off wait 2d after a"


def test_an_approval_with_no_assignee_is_the_owners() -> None:
    step = parse_text("wf", "T", "a: Approve the budget approval").steps[0]
    assert (step.kind, step.assignee) == (StepKind.APPROVAL, None)


def test_after_lists_may_be_spaced_either_way() -> None:
    defn = parse_text("wf", "T", "a: A; b: B; c: C after a ,b; d: D after a,b,c")
    assert defn.steps[2].after == ("a", "b")
    assert defn.steps[3].after == ("a", "b", "c")


def test_params_are_declared_by_use() -> None:
    defn = parse_text(
        "wf",
        "T",
        'a: "Welcome {hire} on {day}"\n'
        "b: Meet {boss}'s team {buddy}\n"
        'c: "Lunch with {hire}" {boss}',
    )
    assert defn.params == (
        ParamDef("hire", ParamType.TEXT),
        ParamDef("day", ParamType.TEXT),
        ParamDef("boss", ParamType.USER),
        ParamDef("buddy", ParamType.USER),
    )


def test_an_output_reference_is_not_a_param() -> None:
    defn = parse_text(
        "wf", "T", "acc: Accounts hook:okta\ntell: Tell {steps.acc.output.login} @ana after acc"
    )
    assert defn.params == ()
    assert defn.steps[1].title == "Tell {steps.acc.output.login}"


def test_an_output_reference_needs_the_step_to_come_after() -> None:
    problem = only(problems_of("acc: Accounts hook:okta\ntell: Tell {steps.acc.output.login}"))
    assert (problem.line, problem.step) == (2, "tell")
    assert "does not come after" in problem.message
    assert problem.hint == "Add 'after acc' to this step"


def test_an_output_reference_may_come_from_an_indirect_dependency() -> None:
    defn = parse_text("wf", "T", "a: A; b: B after a; c: Use {steps.a.output.x} after b")
    assert defn.steps[2].after == ("b",)


def test_an_output_reference_to_an_unknown_step() -> None:
    problem = only(problems_of("acc: A hook:okta\ntell: Tell {steps.ac.output.x} after acc"))
    assert "unknown step 'ac'" in problem.message
    assert problem.hint == "Write one of: acc"


def test_a_malformed_output_reference() -> None:
    problem = only(problems_of("a: Tell {steps.a.login}"))
    assert "'{steps.a.login}'" in problem.message
    assert problem.hint is not None
    assert "{steps.<id>.output.<key>}" in problem.hint


def test_an_empty_title_becomes_the_name() -> None:
    assert parse_text("wf", "  ", "a: A").title == "wf"


def test_description_and_channel_are_kept() -> None:
    defn = parse_text("wf", "T", "a: A", description="Why\nand how", channel="C0123")
    assert (defn.description, defn.channel) == ("Why\nand how", "C0123")


# -- text form problems: each names the line, the step and what to write --------------------------


def test_unknown_clause() -> None:
    problem = only(problems_of("docs: Collect @alice documents"))
    assert (problem.line, problem.step) == (1, "docs")
    assert problem.message == "unknown clause 'documents'"
    assert problem.hint is not None
    assert "after <id>" in problem.hint
    assert "put the whole title in quotes" in problem.hint


@pytest.mark.parametrize(
    ("body", "hint_part"),
    [
        ("a: A @ana 2d", "Write due 2d for a deadline or wait 2d for a timer step"),
        ("a: A @ana Due 2d", "Clauses are lowercase: write due"),
        ("a: A @ana {not-a-param}", "Write {name} with letters, digits and _"),
        ('a: "A" b @ana', "put it inside the quotes"),
    ],
)
def test_unknown_clause_hints(body: str, hint_part: str) -> None:
    hint = problems_of(body)[0].hint
    assert hint is not None
    assert hint_part in hint


def test_a_duplicate_id() -> None:
    problem = only(problems_of("a: A\nb: B\na: Again"))
    assert (problem.line, problem.step) == (3, "a")
    assert problem.message == "step id 'a' is used twice (first on line 1)"


def test_after_an_unknown_step_suggests_the_nearest() -> None:
    problem = only(problems_of("docs: D\naccounts: A\nbilling: B\nlaptop: L after dox"))
    assert problem.render() == (
        "line 4 (step laptop): after names unknown step 'dox'. Write one of: docs"
    )


def test_after_an_unknown_step_lists_the_steps_when_none_is_near() -> None:
    problem = only(problems_of("docs: D\naccounts: A\nlaptop: L after zzz"))
    assert problem.hint == "Write one of: docs, accounts"


def test_a_cycle_names_its_steps_in_order() -> None:
    problem = only(problems_of("a: A after c\nb: B after a\nc: C after b\nd: D after a"))
    assert problem.message == "these steps wait on each other in a cycle: a -> b -> c -> a"
    assert (problem.line, problem.step) == (1, "a")
    assert problem.hint is not None
    assert "Remove one of these after links" in problem.hint


def test_a_step_waiting_on_itself_is_a_cycle() -> None:
    assert "a -> a" in only(problems_of("a: A after a")).message


def test_two_separate_cycles_are_both_reported() -> None:
    messages = [
        p.message for p in problems_of("a: A after b; b: B after a; c: C after d; d: D after c")
    ]
    assert messages == [
        "these steps wait on each other in a cycle: a -> b -> a",
        "these steps wait on each other in a cycle: c -> d -> c",
    ]


def test_a_bad_duration() -> None:
    problem = only(problems_of("a: A\nb: B @ana due tomorrow"))
    assert (problem.line, problem.step) == (2, "b")
    assert problem.message == "due 'tomorrow' is not a duration"
    assert problem.hint == "Write e.g. 30m, 4h, 2d, 1w or 1d4h"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a: A due", "due needs a duration"),
        ("a: A wait 400d", "wait '400d' is longer than 365 days"),
        ("a: A due 0m", "due '0m' must be longer than zero"),
        ("a: A due 1d due 2d", "due is given twice"),
        ("a: A wait 1d wait 2d", "wait is given twice"),
        ("a: A after", "after needs the ids of the steps to wait for"),
        ("a: A hook:", "hook: needs the integration's name right after the colon"),
        ("a: A <@alice>", "'<@alice>' is not a Slack user mention"),
        ("a: A <!subteam^nope|@x>", "'<!subteam^nope|@x>' is not a Slack user group mention"),
        ("a: A @ana, @bob", "'@ana,' is not a user or group name"),
        ('a: "A', "the title's opening quote is never closed"),
    ],
)
def test_clause_problems(body: str, message: str) -> None:
    problem = problems_of(body)[0]
    assert problem.message == message
    assert (problem.line, problem.step) == (1, "a")
    assert problem.hint


def test_an_empty_workflow() -> None:
    problem = only(problems_of("\n  \n# nothing here\n"))
    assert problem.message == "the workflow has no steps"
    assert problem.hint == "Add at least one: docs: Collect documents @alice"


def test_an_empty_title_says_to_quote_a_leading_clause_word() -> None:
    problem = only(problems_of("a: approval @ana"))
    assert problem.message == "the title is empty"
    assert problem.hint is not None
    assert "put it in quotes" in problem.hint


def test_a_title_that_is_too_long() -> None:
    problem = only(problems_of("a: " + "x" * 201))
    assert problem.message == "the title has 201 characters; at most 200 are allowed"


def test_two_assignees() -> None:
    problem = only(problems_of("a: A @ana <@U123>"))
    assert problem.message == "the step has two assignees: @ana and <@U123>"
    assert problem.hint is not None
    assert problem.hint.startswith("Keep one")


def test_two_assignees_after_a_title_param_suggest_quoting_the_title() -> None:
    problem = only(problems_of("docs: Collect documents for {hire} @alice due 1d"))
    assert problem.message == "the step has two assignees: {hire} and @alice"
    assert (
        problem.hint
        == 'If {hire} belongs to the title, put the title in quotes: "Collect documents for {hire}"'
    )


def test_a_hook_and_an_assignee_are_two_assignees() -> None:
    assert "two assignees: hook:okta and @ana" in only(problems_of("a: A hook:okta @ana")).message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a: A hook:okta approval", "a step cannot be both hook and approval"),
        ("a: A approval wait 1d", "a step cannot be both approval and wait"),
        ("a: A wait 1d @ana", "a wait step is done by a timer, so it has no assignee"),
        ("a: A wait 1d due 2d", "a wait step cannot also have due"),
    ],
)
def test_kind_conflicts(body: str, message: str) -> None:
    problem = only(problems_of(body))
    assert problem.message == message
    assert (problem.line, problem.step) == (1, "a")


def test_a_line_without_an_id() -> None:
    problem = only(problems_of("Collect documents @alice"))
    assert problem.line == 1
    assert problem.message == "a step starts with its id and a colon"
    assert problem.hint == "Write e.g. 'collect: Collect documents @alice'"


def test_a_bad_step_id_suggests_a_slug() -> None:
    problem = only(problems_of("Get Laptop: Prepare laptop"))
    assert problem.message == "a step starts with its id and a colon"
    assert problem.hint == "Write e.g. 'get-laptop: Prepare laptop'"
    problem = only(problems_of("Laptop: Prepare laptop"))
    assert (problem.line, problem.step, problem.message) == (
        1,
        "Laptop",
        "the step id 'Laptop' is not valid",
    )
    assert problem.hint is not None
    assert problem.hint.endswith("e.g. 'laptop'")


def test_a_bad_workflow_name_suggests_a_slug() -> None:
    problem = only(problems_of("a: A", name="New Hire"))
    assert problem.message == "the workflow name 'New Hire' is not valid"
    assert problem.line is None
    assert problem.hint is not None
    assert problem.hint.endswith("e.g. 'new-hire'")


def test_at_most_100_steps() -> None:
    body = "\n".join(f"s{n}: Step {n}" for n in range(101))
    problem = only(problems_of(body))
    assert problem.message == "the workflow has 101 steps; at most 100 are allowed"


def test_a_bad_channel() -> None:
    with pytest.raises(DefinitionError, match="not a Slack channel id"):
        parse_text("wf", "T", "a: A", channel="#general")


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    problems = problems_of(
        "docs: Collect @alice due 1x\nlaptop: Prep after dox\nBad: B\nlaptop: again",
        name="Bad Name",
    )
    assert [(p.line, p.step) for p in problems] == [
        (None, None),
        (1, "docs"),
        (2, "laptop"),
        (3, "Bad"),
        (4, "laptop"),
    ]


# -- validate ------------------------------------------------------------------------------------


def test_validate_reports_an_unknown_integration_when_integrations_are_given() -> None:
    defn = parse_text("wf", "T", "a: A hook:okta")
    assert validate(defn) == ()
    assert validate(defn, integrations={"okta"}) == ()
    problem = only(list(validate(defn, integrations={"jira", "github"})))
    assert problem.render() == (
        "line 1 (step a): there is no integration named 'okta'. "
        "Add it with /baton hook add okta <url>, or write one of: github, jira"
    )
    assert only(list(validate(defn, integrations=()))).hint == (
        "Add it with /baton hook add okta <url>"
    )


def test_require_valid_raises_or_returns() -> None:
    defn = parse_text("wf", "T", "a: A hook:okta")
    assert require_valid(defn, integrations=["okta"]) is defn
    with pytest.raises(DefinitionError, match="no integration named 'okta'"):
        require_valid(defn, integrations=[])


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (StepDef("a", "A", StepKind.HOOK), "a hook step needs an integration"),
        (StepDef("a", "A", hook="okta"), "only a hook step names an integration"),
        (StepDef("a", "A", StepKind.WAIT), "a wait step needs a duration"),
        (StepDef("a", "A", wait=timedelta(days=1)), "only a wait step has a wait duration"),
        (StepDef("a", "A", due=timedelta(seconds=90)), "due must be a whole number of minutes"),
        (
            StepDef("a", "A", StepKind.HOOK, Assignee(AssigneeKind.USER, "U1"), hook="okta"),
            "a hook step is done by its integration, so it has no assignee",
        ),
        (
            StepDef("a", "A", assignee=Assignee(AssigneeKind.USER, "alice")),
            "the assignee 'alice' is not valid",
        ),
        (StepDef("a", "A", after=("b", "b")), "after lists 'b' twice"),
        (StepDef("a", "Line\nbreak"), "the title contains a line break or control character"),
    ],
)
def test_model_rules(step: StepDef, message: str) -> None:
    defn = WorkflowDef("wf", "T", (step, StepDef("b", "B")))
    assert any(p.message.startswith(message) for p in validate(defn)), validate(defn)


def test_params_must_be_declared_and_user_typed_when_assigned() -> None:
    defn = WorkflowDef(
        "wf",
        "T",
        (StepDef("a", "For {hire}", assignee=Assignee(AssigneeKind.PARAM, "boss")),),
        params=(ParamDef("boss", ParamType.TEXT),),
    )
    messages = [p.message for p in validate(defn)]
    assert messages == [
        "{hire} is used but not declared as a parameter",
        "the parameter {boss} is the assignee, so it must be of type user",
    ]


# -- the YAML form -------------------------------------------------------------------------------


def test_the_spec_yaml_parses() -> None:
    defn = parse_yaml(SPEC_YAML)
    assert defn.channel == "C0123456789"
    # SPEC writes `required: true` on manager alone: hire may be left out.
    assert defn.params == (
        ParamDef("manager", ParamType.USER),
        ParamDef("hire", ParamType.TEXT, required=False),
    )
    docs = defn.steps[0]
    assert docs.title == "Collect signed documents for {hire}"
    assert docs.assignee == Assignee(AssigneeKind.USER, "U0ALICE")
    assert docs.line == 8
    assert defn.steps[2].kind is StepKind.HOOK
    assert defn.steps[4].kind is StepKind.APPROVAL


def test_text_and_yaml_of_the_same_workflow_are_equal() -> None:
    text = (
        'docs: "Collect signed documents for {hire}" <@U0ALICE> due 1d\n'
        + SPEC_TEXT.split("\n", 1)[1]
    )
    from_text = parse_text("onboarding", "Onboard a new hire", text, channel="C0123456789")
    yaml_text = SPEC_YAML.replace(  # the text form's parameters are all required
        "  manager: {type: user, required: true}\n  hire: {type: text}",
        "  hire: {type: text, required: true}\n  manager: {type: user, required: true}",
    )
    assert parse_yaml(yaml_text) == from_text


def test_the_onboarding_example_in_both_forms_without_hire() -> None:
    yaml_text = (
        SPEC_YAML.replace("  hire: {type: text}\n", "")
        .replace("Collect signed documents for {hire}", "Collect signed documents")
        .replace("assignee: U0ALICE", "assignee: '@alice'")
        .replace("channel: C0123456789            # optional default channel for run cards\n", "")
    )
    assert parse_yaml(yaml_text) == onboarding_text_def()


def test_format_yaml_lays_out_as_the_spec() -> None:
    assert format_yaml(parse_yaml(SPEC_YAML)) == (
        "name: onboarding\n"
        "title: Onboard a new hire\n"
        "channel: C0123456789\n"
        "params:\n"
        "  manager: {type: user, required: true}\n"
        "  hire: {type: text}\n"
        "steps:\n"
        "  - {id: docs, title: 'Collect signed documents for {hire}', assignee: U0ALICE, due: 1d}\n"
        "  - {id: laptop, title: Prepare laptop, assignee: '@it-team', after: [docs], due: 2d}\n"
        "  - {id: accounts, title: Create accounts, hook: okta, after: [docs]}\n"
        "  - {id: lunch, title: Welcome lunch, assignee: '{manager}', after: [laptop, accounts]}\n"
        "  - {id: signoff, title: Sign-off, kind: approval, assignee: '{manager}', "
        "after: [lunch], due: 4h}\n"
    )


def test_yaml_round_trips_and_text_yaml_text_is_equal() -> None:
    defn = parse_yaml(SPEC_YAML)
    assert parse_yaml(format_yaml(defn)) == defn
    from_text = parse_text("onboarding", "Onboard a new hire", SPEC_TEXT)
    again = parse_yaml(format_yaml(from_text))
    assert again == from_text
    assert format_text(again) == format_text(from_text)


@pytest.mark.parametrize("description", ["\n", "a\n\n", " lead\ntrail ", "x\r\ny", "nel\x85"])
def test_odd_descriptions_round_trip(description: str) -> None:
    defn = WorkflowDef("wf", "T", (StepDef("a", "A"), StepDef("b", "B")), description=description)
    assert parse_yaml(format_yaml(defn)) == defn


def test_multi_line_descriptions_export_as_blocks() -> None:
    defn = WorkflowDef("wf", "T", (StepDef("a", "A"),), description="First line\nsecond: line\n")
    text = format_yaml(defn)
    assert "description: |\n  First line\n  second: line\n" in text
    assert parse_yaml(text) == defn


@pytest.mark.parametrize(
    ("spelled", "assignee"),
    [
        ("U0ALICE", Assignee(AssigneeKind.USER, "U0ALICE")),
        ("W0ALICE", Assignee(AssigneeKind.USER, "W0ALICE")),
        ("S0TEAM", Assignee(AssigneeKind.GROUP, "S0TEAM")),
        ("'<@U0ALICE>'", Assignee(AssigneeKind.USER, "U0ALICE")),
        ("'<!subteam^S0TEAM|@it>'", Assignee(AssigneeKind.GROUP, "S0TEAM", "it")),
        ("'@alice'", Assignee(AssigneeKind.MENTION, "alice")),
    ],
)
def test_yaml_assignees(spelled: str, assignee: Assignee) -> None:
    defn = parse_yaml(f"name: wf\nsteps:\n  - {{id: a, title: A, assignee: {spelled}}}\n")
    assert defn.steps[0].assignee == assignee
    assert defn.title == "wf"


def test_a_yaml_assignee_without_at_says_what_to_write() -> None:
    problem = only(yaml_problems("name: wf\nsteps:\n  - {id: a, title: A, assignee: alice}\n"))
    assert (problem.line, problem.step, problem.message) == (3, "a", "'alice' is not an assignee")
    assert problem.hint is not None
    assert "@name" in problem.hint
    assert "U0123ABCD" in problem.hint


def test_a_yaml_param_must_be_declared() -> None:
    problem = only(
        yaml_problems("name: wf\nsteps:\n  - {id: a, title: A, assignee: '{manager}'}\n")
    )
    assert problem.render() == (
        "line 3 (step a): {manager} is used but not declared as a parameter. "
        "Declare it under params:, e.g. manager: {type: user}"
    )


def test_a_yaml_text_param_cannot_be_an_assignee() -> None:
    problem = only(
        yaml_problems(
            "name: wf\nparams: {boss: text}\nsteps:\n  - {id: a, title: A, assignee: '{boss}'}\n"
        )
    )
    assert problem.message == "the parameter {boss} is the assignee, so it must be of type user"


def test_yaml_unknown_keys_name_the_key_and_what_is_allowed() -> None:
    problems = yaml_problems(
        "name: wf\nstpes: []\nsteps:\n  - id: a\n    title: A\n    asignee: '@ana'\n"
    )
    assert [p.render() for p in problems] == [
        "line 2: unknown key 'stpes' in the workflow. Did you mean 'steps'? "
        "Allowed keys: name, title, description, channel, editors, runners, params, steps",
        "line 6 (step a): unknown key 'asignee' in a step. Did you mean 'assignee'? "
        "Allowed keys: id, title, kind, assignee, hook, after, due, wait",
    ]


def test_yaml_problems_carry_the_line_of_the_step() -> None:
    problems = yaml_problems(
        "name: wf\nsteps:\n  - id: a\n    title: A\n  - id: b\n    title: B\n    after: [c]\n"
    )
    problem = only(problems)
    assert (problem.line, problem.step) == (5, "b")
    assert problem.message == "after names unknown step 'c'"
    assert problem.hint == "Write one of: a"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("name: wf\nsteps: [\n", 3, "the YAML cannot be read"),
        ("name: wf\n  title: x\n", 2, "the YAML cannot be read"),
        ("name: wf\n---\nname: other\n", 2, "the YAML cannot be read"),
        ("- a\n- b\n", 1, "the YAML must be a mapping of keys, not a list"),
        ("name: wf\nsteps: {a: 1}\n", 2, "steps must be a list, not a mapping"),
        ("name: wf\nsteps:\n  - just text\n", 3, "a step must be a mapping, not text"),
        ("name: wf\nsteps:\n  - {title: A}\n", 3, "the step has no id"),
        ("name: wf\nsteps:\n  - {id: a, title: [A]}\n", 3, "'title' must be text, not a list"),
        ("name: wf\nsteps:\n  - {id: a, title: A, after: {b: 1}}\n", 3, "after must be a list"),
        ("name: wf\nsteps:\n  - {id: a, title: A, kind: chore}\n", 3, "unknown kind 'chore'"),
        ("name: wf\nsteps:\n  - {id: a, title: A, due: 30}\n", 3, "due '30' is not a duration"),
        ("name: wf\nsteps:\n  - {id: a, title: A, id: b}\n", 3, "'id' is given twice in a step"),
        ("name: wf\nparams: [a]\nsteps:\n  - {id: a, title: A}\n", 2, "params must be a mapping"),
        (
            "name: wf\nparams: {a: {type: number}}\nsteps:\n  - {id: a, title: A}\n",
            2,
            "the parameter 'a' has the unknown type 'number'",
        ),
        (
            "name: wf\nparams: {a: {required: maybe}}\nsteps:\n  - {id: a, title: A}\n",
            2,
            "required of 'a' must be true or false",
        ),
        (
            "name: wf\nsteps:\n  - {id: a, title: A, kind: task, hook: okta}\n",
            3,
            "only a hook step names an integration",
        ),
        ("name: wf\nsteps:\n  - {id: a, title: A, kind: wait}\n", 3, "a wait step needs"),
    ],
)
def test_yaml_problems(text: str, line: int, message: str) -> None:
    problems = yaml_problems(text)
    assert any(p.line == line and p.message.startswith(message) for p in problems), [
        p.render() for p in problems
    ]
    assert all(p.hint for p in problems)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "~\n"])
def test_empty_yaml(text: str) -> None:
    assert only(yaml_problems(text)).message == "the YAML is empty"


def test_a_yaml_workflow_without_name_or_steps() -> None:
    messages = [p.message for p in yaml_problems("title: T\n")]
    assert messages == ["the workflow has no steps", "the workflow has no name"]


def test_yaml_never_constructs_tagged_objects() -> None:
    problems = yaml_problems(
        "name: wf\nsteps:\n  - {id: a, title: !!python/object/apply:os.system [echo hi]}\n"
    )
    assert only(problems).message == "'title' must be text, not a list"


def test_yaml_reads_scalars_as_written() -> None:
    defn = parse_yaml(
        "name: wf\nsteps:\n  - {id: 123, title: yes}\n  - {id: b, title: 1e3, after: 123}\n"
    )
    assert [(s.id, s.title, s.after) for s in defn.steps] == [
        ("123", "yes", ()),
        ("b", "1e3", ("123",)),
    ]


def test_yaml_params_shorthands() -> None:
    defn = parse_yaml(
        "name: wf\nparams:\n  hire:\n  boss: user\n  day: {required: false}\n"
        "steps:\n  - {id: a, title: '{hire} {day}', assignee: '{boss}'}\n"
    )
    assert defn.params == (  # optional unless `required: true`, as in SPEC's example
        ParamDef("hire", ParamType.TEXT, required=False),
        ParamDef("boss", ParamType.USER, required=False),
        ParamDef("day", ParamType.TEXT, required=False),
    )


def test_yaml_kinds_are_inferred_from_hook_and_wait() -> None:
    defn = parse_yaml(
        "name: wf\nsteps:\n  - {id: a, title: A, hook: okta}\n  - {id: b, title: B, wait: 2d}\n"
    )
    assert [s.kind for s in defn.steps] == [StepKind.HOOK, StepKind.WAIT]


def test_yaml_anchors_and_aliases_are_fine() -> None:
    defn = parse_yaml("name: wf\nsteps:\n  - {id: a, title: &t Same}\n  - {id: b, title: *t}\n")
    assert [s.title for s in defn.steps] == ["Same", "Same"]


def test_deeply_nested_yaml_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError):
        parse_yaml("name: " + "[" * 5000 + "]" * 5000)


# -- header lines of the text form -----------------------------------------------------------


def test_header_lines_say_what_the_workflow_holds_besides_its_steps() -> None:
    body = """description First line; not a step
description   indented
channel <#C0ONBOARD|onboarding>
param hire
param {manager} user optional
editors @bob, <@U0CAROL|carol>
runners anyone
docs: "Papers for {hire}" {manager} due 1d
channel: A step named channel {buddy}"""
    defn = parse_text("wf", "A workflow", body, description="kept?", channel="C0OLD")
    assert defn.description == "First line; not a step\n  indented"
    assert defn.channel == "C0ONBOARD"
    assert defn.params == (
        ParamDef("hire", ParamType.TEXT),
        ParamDef("manager", ParamType.USER, required=False),
        ParamDef("buddy", ParamType.USER),
    )
    assert defn.editors == (
        Assignee(AssigneeKind.MENTION, "bob"),
        Assignee(AssigneeKind.USER, "U0CAROL"),
    )
    assert defn.runners == ()
    assert [(s.id, s.line) for s in defn.steps] == [("docs", 8), ("channel", 9)]


def test_without_header_lines_the_callers_description_and_channel_stand() -> None:
    defn = parse_text("wf", "A workflow", "docs: Papers", description="Kept", channel="C0OLD")
    assert (defn.description, defn.channel, defn.editors, defn.runners) == (
        "Kept",
        "C0OLD",
        None,
        None,
    )
    assert parse_text("wf", "W", "channel none\ndocs: Papers", channel="C0OLD").channel is None


@pytest.mark.parametrize(
    ("line", "message", "hint"),
    [
        ("channel #general", "'#general' is not a channel Slack linked", "its id C0123456789"),
        ("channel <#C0ONE> <#C0TWO>", "channel needs one channel", "or channel none"),
        ("param", "param needs the parameter's name", "param hire text optional"),
        ("param 9lives", "'9lives' is not a parameter name", "param <name>"),
        ("param hire number", "param hire: unknown word 'number'", "[user|text] [optional]"),
        ("param hire user text", "param hire says two different things", "[optional]"),
        (
            "editors <!subteam^S0ITTEAM|@it-team>",
            "editors: '<!subteam^S0ITTEAM>' is a user",
            "runners",
        ),
        ("editors {manager}", "editors: '{manager}' is a run parameter, not a person", "@bob"),
        ("runners @", "runners: '@' is not a user or group name", "runners anyone"),
    ],
)
def test_bad_header_lines_say_what_to_write(line: str, message: str, hint: str) -> None:
    problem = only(problems_of(f"{line}\ndocs: Papers"))
    assert problem.line == 1 and message in problem.message and hint in (problem.hint or "")


def test_a_parameter_declared_as_text_cannot_be_an_assignee() -> None:
    problem = only(problems_of("param manager text\ndocs: Papers {manager}"))
    assert problem.message == "the parameter {manager} is the assignee, so it must be of type user"
    assert problem.hint == "Declare it as param manager user"


def test_header_lines_the_caller_has_boxes_for_are_refused() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_text(
            "wf", "W", "description Hi\nparam hire\ndocs: Papers", elsewhere={"description": "X"}
        )
    assert str(caught.value) == "line 1: description lines are not read here. Use X"


def test_show_text_writes_params_only_when_the_steps_do_not_imply_them() -> None:
    defn = parse_text("wf", "W", 'docs: "Papers for {hire}" {manager}')
    assert format_text(defn) == 'docs: "Papers for {hire}" {manager}'
    optional = parse_text("wf", "W", 'param hire text optional\ndocs: "Papers for {hire}"')
    assert format_text(optional).splitlines()[0] == "param hire text optional"
