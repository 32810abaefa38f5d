"""The sample workflows several end-to-end tests share, as Slack delivers them (escaped, with
mentions as <@U…|name>), and the commands that start them."""

from __future__ import annotations

import re

from storage.db import unit_of_work
from storage.models import Integration
from tests.stack import Stack

# One step for Alice; with a deadline, for reminders.
UNTIMED_REVIEW = "define review Review a doc\nread: Read it <@U0ALICE|alice>"
REVIEW = UNTIMED_REVIEW + " due 4h"
# Two steps in a row.
CHAIN = """define chain Two in a row
first: First thing <@U0ALICE|alice>
second: Second thing <@U0BOB|bob> after first"""
# Two steps side by side, then one after both.
FORK = """define fork Fork in two
review: Review the contract <@U0BOB|bob> approval
order: Order the parts <@U0CAROL|carol>
ship: Ship it <@U0ALICE|alice> after review, order"""
# SPEC section 2's onboarding workflow, as Slack delivers it with should_escape: true.
ONBOARDING = """define onboarding Onboard a new hire
docs: Collect signed documents <@U0ALICE|alice> due 1d
laptop: Prepare laptop <!subteam^S0ITTEAM|@it-team> after docs due 2d
accounts: Create accounts hook:okta after docs
lunch: "Welcome lunch" {manager} after laptop, accounts
signoff: Sign-off {manager} approval after lunch due 4h"""
# A hook step whose output the next step shows.
PROVISION = """define provision Provision a new hire
accounts: Create accounts hook:okta
welcome: "Welcome {steps.accounts.output.login}" <@U0ALICE|alice> after accounts"""
SECRET = re.compile(r"```(bsec_[A-Za-z0-9_-]+)```")


def hundred_steps(name: str = "launch") -> str:
    """A chain and a fan-in of 100 steps with long titles, as Slack sends it."""
    lines = [f"define {name} Launch"]
    for n in range(1, 101):
        after = f" after s{n - 1:03d}" if n > 1 else ""
        if n == 100:
            after = " after s050, s098, s099"
        lines.append(
            f"s{n:03d}: Check part {n} of the launch plan with the owners &amp; sign it off "
            f"before it goes to the printers for the final proof <@U0BOB|bob>{after} due 1d"
        )
    return "\n".join(lines)


async def start_review(stack: Stack, definition: str = REVIEW, owner: str = "U0DAVE") -> None:
    await stack.command(definition, user=owner)
    assert "Created `review`" in stack.ephemeral(owner)
    await stack.command("run review", user=owner)
    assert "Started `review-1`" in stack.ephemeral(owner)


async def start_fork(stack: Stack) -> None:
    await stack.command(FORK, user="U0ALICE")
    await stack.command("run fork", user="U0ALICE")
    assert "Started `fork-1`" in stack.ephemeral("U0ALICE")


async def add_okta(stack: Stack) -> None:
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        session.add(
            Integration(
                team_id="T0BATON",
                name="okta",
                url="https://okta.example.com/x",
                secret="s",
                created_by="U0DAVE",
                created_at=stack.clock.now(),
            )
        )


async def start_onboarding(stack: Stack) -> None:
    await add_okta(stack)
    await stack.command(ONBOARDING, user="U0ALICE")
    assert "Created `onboarding` (5 steps)" in stack.ephemeral("U0ALICE")
    await stack.command("run onboarding manager=<@U0DAVE|dave>", user="U0ALICE")
    assert "Started `onboarding-1`" in stack.ephemeral("U0ALICE")


async def add_hook(stack: Stack, name: str, url: str) -> str:
    """`hook add` as Dave (an admin); returns the secret shown once."""
    await stack.command(f"hook add {name} <{url}>", user="U0DAVE")
    found = SECRET.search(stack.ephemeral("U0DAVE"))
    assert found, stack.ephemeral("U0DAVE")
    return found.group(1)
