"""Many workspaces: installed by OAuth, each seeing only its own workflows and runs; an
uninstalled one stops being worked on and keeps its data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlmodel import col, func, select

from bot.slack.installations import BOT_SCOPES
from storage.db import session_factory, unit_of_work
from storage.models import SLACK_BOTS, DigestSubscription, Outbox, Workflow, Workspace
from tests.oauth import OTHER, WORKFLOW, Installed

# slack_sdk's oauth.v2.access still uses aiohttp's BasicAuth, which aiohttp 3.14 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


async def test_two_workspaces_installed_by_oauth_see_only_their_own(
    installed: Installed,
) -> None:
    for team, user in (("T0BATON", "U0DAVE"), (OTHER, "U1EVE")):
        answer = await installed.install(team, user)
        assert answer.status_code == 200, answer.text
    emulator = installed.emulator

    reply = await installed.command(
        installed.home, WORKFLOW.format(user="U0BOB"), "U0ALICE", "C0GENERAL"
    )
    assert "onboarding" in reply
    await installed.command(installed.home, "run onboarding", "U0ALICE", "C0GENERAL")

    # T0OTHER knows nothing of T0BATON's workflow or run: "not found", never someone else's.
    listing = await installed.command(installed.other, "list", "U1EVE", "C1MAIN")
    assert "onboarding" not in listing
    refused = await installed.command(installed.other, "run onboarding", "U1EVE", "C1MAIN")
    assert "onboarding" in refused
    assert not emulator.messages("C1MAIN", team_id=OTHER)
    status = await installed.command(installed.other, "status onboarding-1", "U1EVE", "C1MAIN")
    assert "no run `onboarding-1`" in status.lower()

    # The same name in T0OTHER is its own workflow, numbered from 1 again.
    await installed.command(installed.other, WORKFLOW.format(user="U1FRANK"), "U1EVE", "C1MAIN")
    await installed.command(installed.other, "run onboarding", "U1EVE", "C1MAIN")

    (home_card,) = emulator.messages("C0GENERAL")
    (other_card,) = emulator.messages("C1MAIN", team_id=OTHER)
    assert "Onboard someone" in home_card.render()
    assert "Onboard someone" in other_card.render()
    # Each step DM went to the person in that workspace, with that workspace's token.
    assert emulator.dm("U0BOB")
    assert emulator.dm("U1FRANK", team_id=OTHER)
    posts = emulator.calls_to("chat.postMessage")
    assert {call.team_id for call in posts} == {"T0BATON", OTHER}
    assert all(
        call.params["channel"] in ("C0GENERAL", "U0BOB")
        for call in posts
        if call.team_id == "T0BATON"
    )
    assert all(
        call.params["channel"] in ("C1MAIN", "U1FRANK") for call in posts if call.team_id == OTHER
    )

    mine = await installed.command(installed.home, "status onboarding-1", "U0ALICE", "C0GENERAL")
    theirs = await installed.command(installed.other, "status onboarding-1", "U1EVE", "C1MAIN")
    assert "U0BOB" in mine and "U1FRANK" not in mine
    assert "U1FRANK" in theirs and "U0BOB" not in theirs


async def test_an_uninstalled_workspace_stops_and_keeps_its_data(installed: Installed) -> None:
    assert (await installed.install(OTHER, "U1EVE")).status_code == 200
    emulator = installed.emulator
    await installed.command(installed.other, WORKFLOW.format(user="U1FRANK"), "U1EVE", "C1MAIN")
    await installed.command(installed.other, "digest daily 10:00", "U1EVE", "C1MAIN")

    response = await installed.other.event({"type": "app_uninstalled"})
    assert response.status_code == 200
    await installed.settle()

    sessions = session_factory(installed.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        workspace = await session.get(Workspace, OTHER)
        assert workspace is not None and not workspace.active
        assert workspace.uninstalled_at is not None
        bots = (await session.exec(select(func.count()).select_from(SLACK_BOTS))).one()
        assert bots == 0  # its token is forgotten
        workflows = (
            await session.exec(select(Workflow).where(col(Workflow.team_id) == OTHER))
        ).all()
        assert [w.name for w in workflows] == ["onboarding"]  # its data is kept

    # The digest falls due while uninstalled: nothing is built or sent, and nothing is lost.
    installed.clock.advance(timedelta(hours=3))
    await installed.baton.sweeper.sweep()
    await installed.settle()
    assert not emulator.messages("C1MAIN", team_id=OTHER)
    async with unit_of_work(sessions) as session:
        (subscription,) = (await session.exec(select(DigestSubscription))).all()
        assert subscription.next_fire_at is not None
        assert subscription.next_fire_at <= installed.clock.now()
        assert subscription.last_sent_at is None

    # Installed again, it picks up where it stopped: the missed digest goes out, once.
    assert (await installed.install(OTHER, "U1EVE")).status_code == 200
    await installed.baton.sweeper.sweep()
    await installed.settle()
    await installed.baton.sweeper.sweep()
    await installed.settle()
    assert len(emulator.messages("C1MAIN", team_id=OTHER)) == 1
    async with unit_of_work(sessions) as session:
        workspace = await session.get(Workspace, OTHER)
        assert workspace is not None and workspace.active
        waiting = (
            await session.exec(
                select(func.count()).select_from(Outbox).where(Outbox.state == "pending")
            )
        ).one()
        assert waiting == 0


async def test_a_revoked_user_token_changes_nothing(installed: Installed) -> None:
    assert (await installed.install(OTHER, "U1EVE")).status_code == 200
    await installed.other.event(
        {"type": "tokens_revoked", "tokens": {"oauth": ["U1EVE"], "bot": []}}
    )
    await installed.settle()
    reply = await installed.command(installed.other, "list", "U1EVE", "C1MAIN")
    assert reply  # still answered with the workspace's bot token
    sessions = session_factory(installed.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        workspace = await session.get(Workspace, OTHER)
        assert workspace is not None and workspace.active


def test_the_install_asks_for_the_manifests_scopes() -> None:
    manifest = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text())
    assert set(BOT_SCOPES) == set(manifest["oauth_config"]["scopes"]["bot"])
