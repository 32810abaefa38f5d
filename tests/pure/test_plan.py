"""The plan: order, parallel groups, critical path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.language import (
    DefinitionError,
    StepDef,
    WorkflowDef,
    describe_plan,
    make_plan,
    parse_text,
    remaining_critical,
)

ONBOARDING = """\
docs: Collect signed documents @alice due 1d
laptop: Prepare laptop @it-team after docs due 2d
accounts: Create accounts hook:okta after docs
lunch: "Welcome lunch" {manager} after laptop, accounts
signoff: Sign-off {manager} approval after lunch due 4h"""


def plan_of(body: str) -> tuple[WorkflowDef, str]:
    defn = parse_text("wf", "T", body)
    return defn, describe_plan(make_plan(defn), defn)


def test_the_onboarding_plan() -> None:
    defn = parse_text("onboarding", "Onboard a new hire", ONBOARDING)
    plan = make_plan(defn)
    assert plan.order == ("docs", "laptop", "accounts", "lunch", "signoff")
    assert plan.groups == (("docs",), ("laptop", "accounts"), ("lunch",), ("signoff",))
    assert plan.critical_path == ("docs", "laptop", "lunch", "signoff")
    assert plan.critical_duration == timedelta(days=1) + timedelta(days=2) + timedelta(hours=4)
    assert describe_plan(plan, defn) == (
        "1. docs\n"
        "2. laptop ‖ accounts\n"
        "3. lunch\n"
        "4. signoff\n"
        "Critical path: docs → laptop → lunch → signoff (3d4h)"
    )


def test_the_order_follows_dependencies_then_definition_order() -> None:
    defn = parse_text("wf", "T", "late: Late after early\nother: Other\nearly: Early")
    plan = make_plan(defn)
    assert plan.order == ("other", "early", "late")
    assert plan.groups == (("other", "early"), ("late",))


def test_a_step_joins_the_first_level_after_all_its_dependencies() -> None:
    defn = parse_text("wf", "T", "a: A; b: B after a; c: C after b; d: D after a")
    assert make_plan(defn).groups == (("a",), ("b", "d"), ("c",))


def test_a_wait_step_counts_its_wait() -> None:
    defn = parse_text("wf", "T", "a: A due 1h; cool: Cool off wait 2d after a; b: B due 3h")
    plan = make_plan(defn)
    assert plan.critical_path == ("a", "cool")
    assert plan.critical_duration == timedelta(days=2, hours=1)


def test_without_durations_the_longest_chain_by_steps_is_critical() -> None:
    defn, text = plan_of("a: A; b: B; c: C after b; d: D after c")
    assert make_plan(defn).critical_path == ("b", "c", "d")
    assert text.endswith("Critical path: b → c → d (no due times or waits)")


def test_ties_go_to_the_steps_defined_first() -> None:
    defn = parse_text("wf", "T", "a: A due 1h; b: B due 1h; c: C after a, b")
    assert make_plan(defn).critical_path == ("a", "c")


def test_a_cycle_cannot_be_planned() -> None:
    defn = WorkflowDef(
        "wf", "T", (StepDef("a", "A", after=("b",)), StepDef("b", "B", after=("a",)))
    )
    with pytest.raises(DefinitionError, match="a -> b -> a"):
        make_plan(defn)


def test_an_empty_workflow_has_an_empty_plan() -> None:
    plan = make_plan(WorkflowDef("wf", "T", ()))
    assert (plan.order, plan.groups, plan.critical_path) == ((), (), ())
    assert describe_plan(plan, WorkflowDef("wf", "T", ())) == ""


def test_remaining_critical_skips_finished_steps() -> None:
    defn = parse_text("onboarding", "Onboard a new hire", ONBOARDING)
    assert remaining_critical(defn, set()) == (
        ("docs", "laptop", "lunch", "signoff"),
        timedelta(days=3, hours=4),
    )
    assert remaining_critical(defn, {"docs"}) == (
        ("laptop", "lunch", "signoff"),
        timedelta(days=2, hours=4),
    )
    assert remaining_critical(defn, {"docs", "laptop", "accounts", "lunch", "signoff"}) == (
        (),
        timedelta(0),
    )
