"""Baton in OAuth mode: Slack's install flow as an admin's browser goes through it, and a
second workspace (T0OTHER, with Eve and Frank) besides the emulator's own."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bot.app.composition import Baton, create_app
from bot.app.server import RunningServer, start_server
from bot.app.settle import settle
from bot.core.clock import ManualClock
from bot.slack_emulator import Channel, SlackDriver, SlackEmulator, User
from tests.stack import SIGNING_SECRET, START, make_settings

OTHER = "T0OTHER"
EVE = User("U1EVE", "eve", real_name="Eve Evans", display_name="eve", tz="Europe/Paris")
FRANK = User("U1FRANK", "frank", real_name="Frank Fox", display_name="frank", tz="Europe/Paris")
MAIN = Channel("C1MAIN", "main", (EVE.id, FRANK.id))
WORKFLOW = "define onboarding Onboard someone\nwelcome: Say hello <@{user}|someone>"


@dataclass
class Installed:
    emulator: SlackEmulator
    baton: Baton
    server: RunningServer
    clock: ManualClock
    http: httpx.AsyncClient
    home: SlackDriver  # people of T0BATON
    other: SlackDriver  # people of T0OTHER

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def install(self, team_id: str, user: str) -> httpx.Response:
        """What an admin's browser does: open the install page, approve in Slack, come back."""
        page = await self.http.get(f"{self.url}/slack/install")
        assert page.status_code == 200, page.text
        state = re.search(r"state=([\w-]+)", page.text)
        assert state, page.text
        # The state cookie is Secure (Slack's redirect comes over https): sent by hand here.
        cookie = page.headers["set-cookie"].split(";")[0]
        code = self.emulator.issue_oauth_code(team_id, user)
        return await self.http.get(
            f"{self.url}/slack/oauth_redirect",
            params={"code": code, "state": state.group(1)},
            headers={"Cookie": cookie},
        )

    async def command(self, driver: SlackDriver, text: str, user: str, channel: str) -> str:
        response = await driver.command(text, user=user, channel=channel)
        assert response.status_code == 200, response.text
        await self.settle()
        ephemerals = self.emulator.ephemerals(user, team_id=driver.team_id)
        return ephemerals[-1].render() if ephemerals else ""

    async def settle(self) -> None:
        await settle(self.baton.runtime, self.baton.deliverer)


@asynccontextmanager
async def open_installed(database_url: str, **settings: Any) -> AsyncIterator[Installed]:
    """Baton installed by OAuth (no bot token of its own), with some settings of the test's."""
    async with SlackEmulator.default() as emulator:
        emulator.add_workspace(OTHER, "xoxb-other", users=(EVE, FRANK), channels=(MAIN,))
        values = make_settings(
            emulator,
            database_url,
            SLACK_BOT_TOKEN=None,
            SLACK_CLIENT_ID="1234.5678",
            SLACK_CLIENT_SECRET="oauth-secret",
            **settings,
        )
        clock = ManualClock(START)
        baton = create_app(values, clock=clock, channel_interval=0.0)
        server = await start_server(baton.web)
        url = f"http://127.0.0.1:{server.port}"
        home = SlackDriver(url, SIGNING_SECRET, emulator)
        other = SlackDriver(url, SIGNING_SECRET, emulator, team_id=OTHER)
        try:
            async with httpx.AsyncClient() as http:
                yield Installed(emulator, baton, server, clock, http, home, other)
        finally:
            await home.aclose()
            await other.aclose()
            await server.stop()
