"""The small, realistic workspace `SlackEmulator.default()` starts with.

Time zones are spread over three continents so that working-hours and DST behaviour shows up
in end-to-end tests and in `baton console`.
"""

from __future__ import annotations

from typing import Final

from bot.slack_emulator.state import Channel, User, Usergroup

ALICE: Final = User(
    "U0ALICE", "alice", real_name="Alice Archer", display_name="alice", tz="Europe/Berlin"
)
BOB: Final = User("U0BOB", "bob", real_name="Bob Baker", display_name="bob", tz="America/New_York")
CAROL: Final = User(
    "U0CAROL", "carol", real_name="Carol Chen", display_name="carol", tz="Asia/Tokyo"
)
DAVE: Final = User(
    "U0DAVE",
    "dave",
    real_name="Dave Doyle",
    display_name="dave",
    tz="Europe/London",
    is_admin=True,
)
USERS: Final = (ALICE, BOB, CAROL, DAVE)
IT_TEAM: Final = Usergroup("S0ITTEAM", "it-team", (BOB.id, CAROL.id), name="IT team")
USERGROUPS: Final = (IT_TEAM,)
_EVERYONE: Final = tuple(user.id for user in USERS)
CHANNELS: Final = (
    Channel("C0GENERAL", "general", _EVERYONE),
    Channel("C0ONBOARD", "onboarding", _EVERYONE),
    Channel("C0OPS", "ops", (BOB.id, CAROL.id, DAVE.id)),
)
