"""Who people are: Slack's users.info (zone, admin) cached in `person`, and group members."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.core.clock import Clock
from bot.slack.clients import SlackClients
from storage.db import SessionFactory, unit_of_work
from storage.models import Person
from storage.upserts import insert_for
from storage.vocabulary import AssigneeKind

PERSON_TTL = timedelta(hours=12)
GROUP_TTL_SECONDS = 300.0
# Channel members are trusted this long: someone who left is let in for at most a minute more.
CHANNEL_TTL_SECONDS = 60.0
MEMBERS_PAGE = 200  # Slack's recommended page size for conversations.members


async def save_person(
    session: AsyncSession,
    team_id: str,
    user_id: str,
    info: dict[str, object] | None,
    now: datetime,
) -> Person:
    """Create or refresh the person's row from users.info (None: keep what is known).

    An upsert: a person's first requests arrive together, and each must find the row created
    rather than fail on the one another request inserted a moment before.
    """
    fresh: dict[str, Any] = {"fetched_at": now}
    if info is not None:
        fresh["name"] = str(info.get("name") or info.get("real_name") or user_id)
        fresh["tz"] = str(info.get("tz") or "UTC")
        fresh["is_admin"] = bool(info.get("is_admin") or info.get("is_owner"))
    await session.exec(
        insert_for(session, Person)
        .values(team_id=team_id, user_id=user_id, **fresh)
        .on_conflict_do_update(index_elements=["team_id", "user_id"], set_=fresh)
    )
    query = select(Person).where(Person.team_id == team_id, Person.user_id == user_id)
    return (await session.exec(query.execution_options(populate_existing=True))).one()


class Directory:
    def __init__(
        self, settings: Settings, clock: Clock, sessions: SessionFactory, clients: SlackClients
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sessions = sessions
        self._clients = clients
        self._groups: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}
        self._name_cache: dict[str, tuple[float, dict[str, tuple[AssigneeKind, str]]]] = {}
        self._channels: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}

    async def person(self, team_id: str, user_id: str) -> Person:
        """The person, refreshed from users.info when the cached copy is older than a TTL."""
        now = self._clock.now()
        async with unit_of_work(self._sessions) as session:
            person = (
                await session.exec(
                    select(Person).where(Person.team_id == team_id, Person.user_id == user_id)
                )
            ).first()
        if person is not None and person.fetched_at and now - person.fetched_at < PERSON_TTL:
            return person
        info = await self._users_info(team_id, user_id)
        async with unit_of_work(self._sessions) as session:
            return await save_person(session, team_id, user_id, info, now)

    async def _users_info(self, team_id: str, user_id: str) -> dict[str, object] | None:
        client = await self._clients.for_team(team_id)
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError:
            return None  # an unknown user keeps the defaults (UTC, not an admin)
        user = response.get("user")
        return user if isinstance(user, dict) else None

    async def is_admin(self, team_id: str, user_id: str) -> bool:
        if user_id in self._settings.BATON_ADMINS:
            return True
        return (await self.person(team_id, user_id)).is_admin

    async def group_members(self, team_id: str, group_id: str) -> frozenset[str]:
        key = (team_id, group_id)
        cached = self._groups.get(key)
        if cached is not None and time.monotonic() - cached[0] < GROUP_TTL_SECONDS:
            return cached[1]
        client = await self._clients.for_team(team_id)
        try:
            response = await client.usergroups_users_list(usergroup=group_id)
            members = frozenset(str(user) for user in response.get("users") or [])
        except SlackApiError:
            members = frozenset()
        self._groups[key] = (time.monotonic(), members)
        return members

    async def is_channel_member(self, team_id: str, channel_id: str, user_id: str) -> bool:
        """Whether the user is in the channel (conversations.members, every page).

        A member seen within CHANNEL_TTL_SECONDS is taken from the cache; anyone else is
        looked up afresh, so a person who has just joined is let in at once. Slack's refusals
        (`channel_not_found` when the bot cannot see the channel) raise SlackApiError.
        """
        key = (team_id, channel_id)
        now = time.monotonic()
        cached = self._channels.get(key)
        if cached is not None and now - cached[0] < CHANNEL_TTL_SECONDS and user_id in cached[1]:
            return True
        members = await self._channel_members(team_id, channel_id)
        self._channels = {
            k: v for k, v in self._channels.items() if now - v[0] < CHANNEL_TTL_SECONDS
        }
        self._channels[key] = (time.monotonic(), members)
        return user_id in members

    async def _channel_members(self, team_id: str, channel_id: str) -> frozenset[str]:
        client = await self._clients.for_team(team_id)
        members: set[str] = set()
        cursor = ""
        while True:
            page = await client.conversations_members(
                channel=channel_id, cursor=cursor or None, limit=MEMBERS_PAGE
            )
            members.update(str(member) for member in page.get("members") or [])
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return frozenset(members)

    async def zone(self, team_id: str, user_id: str) -> str:
        return (await self.person(team_id, user_id)).tz

    async def find_name(self, team_id: str, name: str) -> tuple[AssigneeKind, str] | None:
        """(USER, U…) or (GROUP, S…) for a plain @name (a user's handle or display name,
        or a group's handle), as typed where Slack does not link mentions (modal text)."""
        key = name.lower().lstrip("@")
        names = await self._names(team_id)
        return names.get(key)

    async def group_handle(self, team_id: str, group_id: str) -> str | None:
        """A user group's @handle (without the @), to show it as people type it."""
        names = await self._names(team_id)
        return next((name for name, (kind, i) in names.items() if i == group_id), None)

    async def _names(self, team_id: str) -> dict[str, tuple[AssigneeKind, str]]:
        cached = self._name_cache.get(team_id)
        if cached is not None and time.monotonic() - cached[0] < GROUP_TTL_SECONDS:
            return cached[1]
        client = await self._clients.for_team(team_id)
        names: dict[str, tuple[AssigneeKind, str]] = {}
        try:
            cursor = ""
            while True:
                page = await client.users_list(cursor=cursor or None, limit=200)
                for user in page.get("members") or []:
                    if user.get("deleted") or user.get("is_bot"):
                        continue
                    profile = user.get("profile") or {}
                    for label in (user.get("name"), profile.get("display_name")):
                        if label:
                            names.setdefault(
                                str(label).lower(), (AssigneeKind.USER, str(user["id"]))
                            )
                cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
                if not cursor:
                    break
            groups = await client.usergroups_list()
            for group in groups.get("usergroups") or []:
                names[str(group.get("handle", "")).lower()] = (AssigneeKind.GROUP, str(group["id"]))
        except (SlackApiError, OSError, aiohttp.ClientError):
            return {}  # no directory to ask: the names stay unresolved and are reported
        self._name_cache[team_id] = (time.monotonic(), names)
        return names
