"""Who may edit and run a workflow (`editors:` and `runners:` in its YAML), and the workspace's
escalation delay (`/baton settings`), as people use them: slash commands and modals in over
real HTTP, Slack calls and database rows out.

The emulator's people: Alice and Carol are plain members, Dave is a workspace admin, Bob and
Carol make up the user group @it-team (S0ITTEAM).
"""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.language import (
    Assignee,
    DefinitionError,
    format_yaml,
    from_dict,
    parse_text,
    parse_yaml,
    to_dict,
)
from storage.db import session_factory, unit_of_work
from storage.models import AuditEvent, Workflow, Workspace
from storage.vocabulary import AssigneeKind
from tests.stack import Stack, utc
from tests.workflows import UNTIMED_REVIEW, start_review

DEPLOY = """name: deploy
title: Deploy the app
{access}
steps:
  - {{id: ship, title: Ship it, assignee: '@alice'}}
"""


def deploy(access: str) -> str:
    return DEPLOY.format(access=access)


async def exported(stack: Stack, user: str, name: str) -> str:
    await stack.command(f"export {name}", user=user)
    return stack.ephemeral(user).strip("`")


# -- the language ------------------------------------------------------------------------------


def test_yaml_editors_and_runners_round_trip() -> None:
    text = deploy("editors: [U0BOB, '<@U0CAROL|carol>', U0BOB]\nrunners: '@oncall S0ITTEAM'")
    defn = parse_yaml(text)
    assert defn.editors == (
        Assignee(AssigneeKind.USER, "U0BOB"),
        Assignee(AssigneeKind.USER, "U0CAROL"),
    )
    assert defn.runners == (
        Assignee(AssigneeKind.MENTION, "oncall"),
        Assignee(AssigneeKind.GROUP, "S0ITTEAM"),
    )
    written = format_yaml(defn)
    assert "editors: [U0BOB, U0CAROL]\nrunners: ['@oncall', S0ITTEAM]\n" in written
    assert parse_yaml(written) == defn
    assert from_dict(to_dict(defn)) == defn
    # Left out: the definition does not say (saving keeps the lists); empty: nobody.
    assert parse_yaml(deploy("")).editors is None
    cleared = parse_yaml(deploy("editors: []\nrunners:"))
    assert (cleared.editors, cleared.runners) == ((), ())
    assert parse_yaml(format_yaml(cleared)) == cleared
    # The text form never speaks of them.
    assert parse_text("wf", "T", "a: A").runners is None


@pytest.mark.parametrize(
    ("access", "problem"),
    [
        (
            "editors: ['@it-team', S0ITTEAM]",
            "line 3: editors: 'S0ITTEAM' is a user group; editors are people",
        ),
        ("runners: ['{manager}']", "line 3: runners: '{manager}' is a run parameter, not a person"),
        ("runners: {oncall: yes}", "line 3: runners must be a list, not a mapping"),
        ("editors: ['@']", "line 3: editors: '@' is not a user or group name"),
        (
            "editor: [U0BOB]",
            "line 3: unknown key 'editor' in the workflow. Did you mean 'editors'?",
        ),
    ],
)
def test_yaml_access_mistakes_are_explained(access: str, problem: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_yaml(deploy(access))
    assert problem in str(caught.value)


# -- editors -----------------------------------------------------------------------------------


async def test_editors_set_in_yaml_may_edit_export_cancel_and_change_editors(
    stack: Stack,
) -> None:
    await stack.command(UNTIMED_REVIEW, user="U0ALICE")
    await stack.command("run review", user="U0ALICE")
    await stack.command("cancel review-1", user="U0BOB")
    assert "Only the run's owner (<@U0ALICE>), the workflow's editors" in stack.ephemeral("U0BOB")
    await stack.command("export review", user="U0BOB")
    assert "Only the owner of `review` (<@U0ALICE>), its editors" in stack.ephemeral("U0BOB")

    # Alice, the owner, names Bob an editor (as typed in a modal: a plain @name).
    yaml_text = await exported(stack, "U0ALICE", "review")
    assert "editors" not in yaml_text
    with_bob = yaml_text.replace(
        "title: Review a doc\n", "title: Review a doc\neditors: ['@bob']\n"
    )
    assert await stack.import_yaml("U0ALICE", with_bob) is None
    assert (await stack.workflow("review")).editors == ["U0BOB"]
    await stack.command("show review", user="U0CAROL")
    assert "Editors: <@U0BOB> · Who may run it: anyone" in stack.ephemeral("U0CAROL")

    # Bob now edits: export, re-import unchanged (an equal definition), cancel Alice's run.
    bobs = await exported(stack, "U0BOB", "review")
    assert "editors: [U0BOB]" in bobs
    assert await stack.import_yaml("U0BOB", bobs) is None
    assert await exported(stack, "U0BOB", "review") == bobs
    await stack.command("cancel review-1", user="U0BOB")
    assert "Cancelled `review-1`" in stack.ephemeral("U0BOB")

    # Saving the text form (it has no editors) keeps them.
    await stack.command(UNTIMED_REVIEW + " due 1d", user="U0BOB")
    assert "Saved version 4 of `review`" in stack.ephemeral("U0BOB")
    assert (await stack.workflow("review")).editors == ["U0BOB"]

    # Carol, not an editor, cannot make herself one; nothing changes.
    with_carol = bobs.replace("editors: [U0BOB]", "editors: [U0BOB, '@carol']")
    refused = await stack.import_yaml("U0CAROL", with_carol)
    assert refused is not None and "Only the owner of `review` (<@U0ALICE>)" in refused
    row = await stack.workflow("review")
    assert (row.editors, row.latest_version) == (["U0BOB"], 4)

    # An editor may change the editors: Bob hands over to Carol and loses his own rights.
    to_carol = bobs.replace("editors: [U0BOB]", "editors: ['<@U0CAROL|carol>']")
    assert await stack.import_yaml("U0BOB", to_carol) is None
    assert (await stack.workflow("review")).editors == ["U0CAROL"]
    await stack.command("export review", user="U0BOB")
    assert "Only the owner of `review`" in stack.ephemeral("U0BOB")
    assert "editors: [U0CAROL]" in await exported(stack, "U0CAROL", "review")

    sessions = session_factory(stack.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        events = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "workflow.defined")
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert [(e.actor_id, e.detail.get("editors")) for e in events] == [
        ("U0ALICE", None),
        ("U0ALICE", ["U0BOB"]),
        ("U0BOB", ["U0BOB"]),
        ("U0BOB", None),
        ("U0BOB", ["U0CAROL"]),
    ]


@pytest.mark.parametrize(
    ("access", "problem"),
    [
        ("editors: ['@it-team']", "editors: @it-team is a user group; editors are people"),
        (
            "editors: ['@nobody']",
            "editors: @nobody is not a person or user group in this workspace",
        ),
        (
            "runners: ['@ghosts']",
            "runners: @ghosts is not a person or user group in this workspace",
        ),
    ],
)
async def test_editors_and_runners_must_be_known_people(
    stack: Stack, access: str, problem: str
) -> None:
    error = await stack.import_yaml("U0ALICE", deploy(access))
    assert error is not None and problem in error
    sessions = session_factory(stack.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        assert (await session.exec(select(Workflow))).all() == []


# -- who may run -------------------------------------------------------------------------------


async def test_runners_restrict_who_starts_runs(stack: Stack) -> None:
    assert await stack.import_yaml("U0ALICE", deploy("runners: ['@bob']")) is None
    assert (await stack.workflow("deploy")).runners == ["U0BOB"]

    await stack.command("run deploy", user="U0CAROL")
    refusal = stack.ephemeral("U0CAROL")
    assert (
        "`deploy` may be run only by <@U0BOB>, its owner (<@U0ALICE>), its editors and "
        "workspace admins. Ask <@U0ALICE> to add you to its `runners`." in refusal
    )
    assert await stack.run_keys() == []
    assert stack.emulator.messages("C0GENERAL") == []

    # Bob is named; Alice owns it; Dave is an admin.
    for user in ("U0BOB", "U0ALICE", "U0DAVE"):
        await stack.command("run deploy", user=user)
        assert "Started `deploy-" in stack.ephemeral(user)
    assert await stack.run_keys() == [
        ("deploy-1", "U0BOB"),
        ("deploy-2", "U0ALICE"),
        ("deploy-3", "U0DAVE"),
    ]
    await stack.command("show deploy", user="U0CAROL")
    assert "Who may run it: <@U0BOB>, its owner, editors and admins" in stack.ephemeral("U0CAROL")

    # A user group: its members may run it (Carol is in @it-team).
    assert await stack.import_yaml("U0ALICE", deploy("runners: ['@it-team']")) is None
    assert (await stack.workflow("deploy")).runners == ["S0ITTEAM"]
    await stack.command("run deploy", user="U0CAROL")
    assert "Started `deploy-4`" in stack.ephemeral("U0CAROL")
    await stack.command("show deploy", user="U0CAROL")
    assert "Who may run it: <!subteam^S0ITTEAM>, its owner" in stack.ephemeral("U0CAROL")

    # Running it is not editing it: a runner cannot lift the restriction.
    assert await stack.import_yaml("U0CAROL", deploy("runners: []")) is not None
    assert await stack.import_yaml("U0ALICE", deploy("runners: []")) is None
    assert (await stack.workflow("deploy")).runners == []
    await stack.command("show deploy", user="U0CAROL")
    assert "Who may run it: anyone" in stack.ephemeral("U0CAROL")


async def test_a_restricted_group_is_refused_to_non_members(stack: Stack) -> None:
    assert await stack.import_yaml("U0BOB", deploy("runners: [S0ITTEAM]")) is None
    await stack.command("run deploy", user="U0ALICE")  # not in @it-team, not an admin
    assert (
        "`deploy` may be run only by members of <!subteam^S0ITTEAM>, its owner (<@U0BOB>)"
        in stack.ephemeral("U0ALICE")
    )
    assert await stack.run_keys() == []
    await stack.command("run deploy", user="U0CAROL")
    assert await stack.run_keys() == [("deploy-1", "U0CAROL")]


async def test_schedules_start_runs_only_while_their_maker_may_run(stack: Stack) -> None:
    access = "editors: ['@bob']\nrunners: ['@alice']"
    assert await stack.import_yaml("U0ALICE", deploy(access)) is None
    # Scheduling needs edit rights, which include running it. Bob is in New York: 10:00 there
    # is 15:00 UTC.
    await stack.command("schedule deploy daily 10:00", user="U0BOB")
    assert "as schedule 1" in stack.ephemeral("U0BOB")
    await stack.command("schedule deploy daily 10:00", user="U0CAROL")
    assert "Only the owner of `deploy`" in stack.ephemeral("U0CAROL")

    await stack.sweep_at(utc(23, 15))
    assert await stack.run_keys() == [("deploy-1", "U0BOB")]

    # Bob is no longer an editor and not among the runners: his schedule starts nothing and
    # tells him why, each time, until someone unschedules it or lets him run it again.
    assert await stack.import_yaml("U0ALICE", deploy("editors: []")) is None
    await stack.sweep_at(utc(24, 15))
    assert await stack.run_keys() == [("deploy-1", "U0BOB")]
    told = stack.emulator.dm("U0BOB")[-1].text
    assert "Schedule 1 (daily 10:00) could not start a run of `deploy`" in told
    assert "`deploy` may be run only by <@U0ALICE>" in told

    assert await stack.import_yaml("U0ALICE", deploy("runners: ['@alice', '@bob']")) is None
    await stack.sweep_at(utc(25, 15))
    assert await stack.run_keys() == [("deploy-1", "U0BOB"), ("deploy-2", "U0BOB")]


# -- the escalation delay ----------------------------------------------------------------------


async def workspace_row(stack: Stack) -> Workspace | None:
    sessions = session_factory(stack.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        return await session.get(Workspace, "T0BATON")


async def test_settings_show_the_escalation_delay_and_only_admins_change_it(stack: Stack) -> None:
    await stack.command("settings", user="U0CAROL")
    shown = stack.ephemeral("U0CAROL")
    assert "*Escalation*: 1 working day: a run's owner is told when a step is still open" in shown
    assert "`/baton settings escalation &lt;working days&gt;` (1 to 30)" in shown

    await stack.command("settings escalation 2", user="U0CAROL")
    assert "Only workspace admins may change Baton's settings" in stack.ephemeral("U0CAROL")
    before = await workspace_row(stack)
    assert before is None or before.escalation_working_days == 1

    await stack.command("settings escalation 2d", user="U0DAVE")
    assert (
        "Escalation set to 2 working days: a run's owner is told when a step is still open 2 "
        "working days after its due time (was 1 working day)" in stack.ephemeral("U0DAVE")
    )
    after = await workspace_row(stack)
    assert after is not None and after.escalation_working_days == 2
    await stack.command("settings", user="U0CAROL")
    assert "*Escalation*: 2 working days" in stack.ephemeral("U0CAROL")

    await stack.command("settings escalation off", user="U0DAVE")
    assert "Escalation set to off" in stack.ephemeral("U0DAVE")
    assert "(was 2 working days)" in stack.ephemeral("U0DAVE")
    after = await workspace_row(stack)
    assert after is not None and after.escalation_working_days == 0

    sessions = session_factory(stack.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        events = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "workspace.settings")
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert [(e.actor_id, e.detail) for e in events] == [
        ("U0DAVE", {"escalation_working_days": 2, "was": 1}),
        ("U0DAVE", {"escalation_working_days": 0, "was": 2}),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("settings escalation soon", "`soon` is not a number of working days: write 1 to 30"),
        ("settings escalation 45", "45 working days is too long: write 1 to 30, or `off`"),
        ("settings escalation -1", "`-1` is not a number of working days"),
        ("settings escalation", "How many working days after a step's due time"),
        ("settings escalations 2", "`escalations` is not a setting. Settings: `escalation`"),
    ],
)
async def test_bad_settings_are_explained_and_change_nothing(
    stack: Stack, text: str, problem: str
) -> None:
    await stack.command(text, user="U0DAVE")
    reply = stack.ephemeral("U0DAVE")
    assert problem in reply
    assert "Usage: `/baton settings [escalation &lt;working days&gt;|off]`" in reply
    row = await workspace_row(stack)
    assert row is None or row.escalation_working_days == 1


async def test_escalation_comes_after_the_workspaces_delay(stack: Stack) -> None:
    await stack.command("settings escalation 2", user="U0DAVE")
    await start_review(stack)  # Dave owns it; Alice's step is due at 12:00 UTC on Monday
    await stack.walk(utc(24, 13))
    # Overdue on Monday, repeated on Tuesday ("due soon" was passed by in the hourly walk).
    assert len(stack.reminders_for("U0ALICE")) == 2
    assert stack.reminders_for("U0DAVE") == []
    await stack.walk(utc(25, 11))
    assert stack.reminders_for("U0DAVE") == []
    await stack.sweep_at(utc(25, 12))
    [escalation] = stack.reminders_for("U0DAVE")
    assert "Overdue for 2 working days: `read` Read it in your run `review-1`" in (
        escalation.render()
    )


async def test_escalation_off_tells_the_owner_nothing(stack: Stack) -> None:
    await stack.command("settings escalation off", user="U0DAVE")
    await start_review(stack)
    await stack.walk(utc(30, 13))
    assert len(stack.reminders_for("U0ALICE")) == 4  # overdue and three repeats, as before
    assert stack.reminders_for("U0DAVE") == []
