"""A workspace's directory (users, groups, channels) and everything the bot did in it.

Plain data with small mutation methods; the Web API layer (api.py) decides what is allowed,
this module only keeps the record in a shape that is easy to query and to render.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Literal
from zoneinfo import ZoneInfo

from bot.slack_emulator.blockkit import JSON, ElementRef, buttons, elements, render_blocks

ConversationKind = Literal["channel", "im", "mpim"]
MessageSource = Literal["api", "response_url", "ack", "user"]
ChangeKind = Literal[
    "message",
    "reply",
    "ephemeral",
    "update",
    "delete",
    "view_open",
    "view_update",
    "view_close",
    "home",
]

# Slack shows long zone names; zoneinfo only knows abbreviations.
_TZ_LABELS = {
    "UTC": "Coordinated Universal Time",
    "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time",
    "CET": "Central European Time",
    "CEST": "Central European Summer Time",
    "EET": "Eastern European Time",
    "EEST": "Eastern European Summer Time",
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "JST": "Japan Standard Time",
    "IST": "India Standard Time",
}


# --- directory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    id: str
    name: str
    real_name: str = ""
    tz: str = "UTC"
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    display_name: str = ""

    def info(self, team_id: str, now: float) -> JSON:
        """The `user` object of users.info, with the zone offset in force at `now`."""
        local = dt.datetime.fromtimestamp(now, ZoneInfo(self.tz))
        offset = local.utcoffset() or dt.timedelta()
        abbreviation = local.tzname() or self.tz
        profile = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.display_name,
            "display_name_normalized": self.display_name,
            "team": team_id,
        }
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": _TZ_LABELS.get(abbreviation, abbreviation),
            "tz_offset": int(offset.total_seconds()),
            "profile": profile,
            "is_admin": self.is_admin or self.is_owner,
            "is_owner": self.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": int(now),
        }


@dataclass(frozen=True)
class Usergroup:
    id: str
    handle: str
    members: tuple[str, ...] = ()
    name: str = ""

    def info(self, team_id: str, *, include_users: bool) -> JSON:
        group: JSON = {
            "id": self.id,
            "team_id": team_id,
            "is_usergroup": True,
            "name": self.name or self.handle,
            "handle": self.handle,
            "user_count": len(self.members),
        }
        if include_users:
            group["users"] = list(self.members)
        return group


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    members: tuple[str, ...] = ()
    is_private: bool = False


# --- recorded state ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """A message's content before one chat.update (or replace_original)."""

    text: str
    blocks: list[JSON]
    replaced_at: float


@dataclass(eq=False)
class Message:
    """A message as Slack holds it: a channel/DM message, a thread reply or an ephemeral."""

    team_id: str
    channel: str
    ts: str
    text: str
    blocks: list[JSON]
    user: str
    bot_id: str | None = None
    app_id: str | None = None
    thread_ts: str | None = None
    ephemeral_to: str | None = None
    attachments: list[JSON] = field(default_factory=list)
    via: MessageSource = "api"
    edits: list[Edit] = field(default_factory=list)
    replies: list[Message] = field(default_factory=list)
    deleted: bool = False
    # Message metadata (event_type, event_payload) posted with chat.postMessage.
    metadata: JSON | None = None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def buttons(self) -> list[ElementRef]:
        return buttons(self.blocks)

    @property
    def elements(self) -> list[ElementRef]:
        return list(elements(self.blocks))

    def render(self) -> str:
        """What a person reads: the blocks when there are any (Slack then hides `text`)."""
        return render_blocks(self.blocks) if self.blocks else self.text

    def snapshot(self) -> Message:
        """A frozen copy, e.g. to click a button on a message that has since been redrawn."""
        return replace(
            self,
            blocks=copy.deepcopy(self.blocks),
            attachments=copy.deepcopy(self.attachments),
            edits=list(self.edits),
            replies=list(self.replies),
        )

    def to_payload(self) -> JSON:
        """The message object Slack returns from the API and puts in block_actions payloads."""
        payload: JSON = {
            "type": "message",
            "user": self.user,
            "ts": self.ts,
            "text": self.text,
            "team": self.team_id,
        }
        if self.bot_id:
            payload["bot_id"] = self.bot_id
            payload["app_id"] = self.app_id
        if self.blocks:
            payload["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments:
            payload["attachments"] = copy.deepcopy(self.attachments)
        if self.thread_ts:
            payload["thread_ts"] = self.thread_ts
        if self.replies:
            payload["reply_count"] = len(self.replies)
            payload["latest_reply"] = self.replies[-1].ts
        if self.edits:
            payload["edited"] = {"user": self.user, "ts": f"{self.edits[-1].replaced_at:.6f}"}
        if self.metadata:
            payload["metadata"] = copy.deepcopy(self.metadata)
        return payload

    def replace_content(self, text: str, blocks: list[JSON], now: float) -> None:
        self.edits.append(Edit(self.text, self.blocks, now))
        self.text = text
        self.blocks = blocks


@dataclass(eq=False)
class Conversation:
    id: str
    kind: ConversationKind
    name: str
    members: tuple[str, ...] = ()
    # A private channel: invisible (channel_not_found) to the bot unless it is a member.
    is_private: bool = False
    # An archived channel: readable, but posts are refused (`is_archived`).
    is_archived: bool = False
    # Every non-ephemeral message in posting order, thread replies included.
    messages: list[Message] = field(default_factory=list)
    ephemerals: list[Message] = field(default_factory=list)

    @property
    def payload_name(self) -> str:
        """The channel name Slack puts in commands and block_actions payloads."""
        if self.kind == "im":
            return "directmessage"
        if self.kind == "mpim":
            return "privategroup"
        return self.name

    def info(self) -> JSON:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": self.kind == "channel",
            "is_im": self.kind == "im",
            "is_mpim": self.kind == "mpim",
            "is_private": self.kind != "channel" or self.is_private,
            "is_member": True,
            "is_archived": self.is_archived,
            **({"user": self.members[0]} if self.kind == "im" else {}),
        }

    def find(self, ts: str) -> Message | None:
        for message in self.messages:
            if message.ts == ts:
                return message
        return None


@dataclass(eq=False)
class View:
    """A modal or an App Home tab, as opened/published by the bot and seen by one user."""

    id: str
    team_id: str
    user_id: str
    spec: JSON
    hash: str
    app_id: str
    bot_id: str
    root_view_id: str = ""
    previous_view_id: str | None = None
    state_values: dict[str, dict[str, JSON]] = field(default_factory=dict)
    # The errors of the last response_action=errors answer, shown under the inputs.
    errors: dict[str, str] = field(default_factory=dict)
    history: list[JSON] = field(default_factory=list)
    closed: bool = False

    @property
    def type(self) -> str:
        return str(self.spec.get("type", ""))

    @property
    def blocks(self) -> list[JSON]:
        blocks = self.spec.get("blocks", [])
        return blocks if isinstance(blocks, list) else []

    @property
    def callback_id(self) -> str:
        return str(self.spec.get("callback_id", ""))

    @property
    def external_id(self) -> str:
        return str(self.spec.get("external_id", ""))

    @property
    def private_metadata(self) -> str:
        return str(self.spec.get("private_metadata", ""))

    @property
    def title(self) -> str:
        title = self.spec.get("title")
        return str(title.get("text", "")) if isinstance(title, dict) else ""

    @property
    def buttons(self) -> list[ElementRef]:
        return buttons(self.blocks)

    @property
    def elements(self) -> list[ElementRef]:
        return list(elements(self.blocks))

    def render(self) -> str:
        body = render_blocks(self.blocks)
        errors = "".join(f"\n! {block}: {error}" for block, error in self.errors.items())
        return f"== {self.title} ==\n{body}{errors}" if self.title else body + errors

    def replace_spec(self, spec: JSON, hash_: str) -> None:
        if self.external_id and "external_id" not in spec:
            spec = {**spec, "external_id": self.external_id}  # the id outlives updates
        self.history.append(self.spec)
        self.spec = spec
        self.hash = hash_
        self.errors = {}

    def to_payload(self) -> JSON:
        spec = self.spec
        default_title = {"type": "plain_text", "text": "View Title"}
        return {
            "id": self.id,
            "team_id": self.team_id,
            "type": self.type,
            "blocks": copy.deepcopy(self.blocks),
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "state": {"values": copy.deepcopy(self.state_values)},
            "hash": self.hash,
            "title": copy.deepcopy(spec.get("title", default_title)),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id or self.id,
            "app_id": self.app_id,
            "external_id": self.external_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }


@dataclass(frozen=True)
class Call:
    """One Web API (or response_url) call as the emulator received and answered it."""

    method: str
    params: JSON
    team_id: str | None
    status: int
    response: JSON
    monotonic: float
    wall: float

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return error if isinstance(error, str) else None


@dataclass(frozen=True)
class Change:
    """One visible change, in order: what `baton console` prints as it happens."""

    kind: ChangeKind
    team_id: str
    item: Message | View


def dm_id(user_id: str) -> str:
    """A stable DM id per user: U0ALICE -> D0ALICE."""
    return "D" + (user_id[1:] if user_id.startswith(("U", "W")) else user_id)


class Workspace:
    """One Slack team: its directory, the bot's identity and what the bot did there."""

    def __init__(
        self,
        *,
        team_id: str,
        domain: str,
        name: str,
        bot_token: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
        users: Iterable[User] = (),
        usergroups: Iterable[Usergroup] = (),
        channels: Iterable[Channel] = (),
    ) -> None:
        self.team_id = team_id
        self.domain = domain
        self.name = name
        self.bot_token = bot_token
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        bot = User(bot_user_id, "baton", real_name="Baton", is_bot=True, display_name="Baton")
        self.users: dict[str, User] = {bot.id: bot}
        self.users.update((user.id, user) for user in users)
        self.usergroups: dict[str, Usergroup] = {group.id: group for group in usergroups}
        self.conversations: dict[str, Conversation] = {}
        for channel in channels:
            self.add_channel(channel)
        self.views: dict[str, View] = {}
        self.modal_stacks: dict[str, list[View]] = {}
        self.homes: dict[str, View] = {}
        self.changes: list[Change] = []
        # Set by the emulator to wake waiters and feed listeners.
        self.on_change: Callable[[Change], None] | None = None

    def add_channel(self, channel: Channel) -> Conversation:
        """A channel with its members (everyone, when none are named); it replaces any
        channel with the same id, messages and all."""
        conversation = Conversation(
            channel.id,
            "channel",
            channel.name,
            channel.members or tuple(self.users),
            is_private=channel.is_private,
        )
        self.conversations[channel.id] = conversation
        return conversation

    # -- directory lookups --

    def user(self, ref: str) -> User | None:
        """By id ("U0ALICE"), name ("alice") or mention ("@alice")."""
        if ref in self.users:
            return self.users[ref]
        name = ref.removeprefix("@")
        return next((u for u in self.users.values() if u.name == name), None)

    def usergroup(self, ref: str) -> Usergroup | None:
        if ref in self.usergroups:
            return self.usergroups[ref]
        handle = ref.removeprefix("@")
        return next((g for g in self.usergroups.values() if g.handle == handle), None)

    def conversation(self, ref: str) -> Conversation | None:
        """By channel id or name ("#ops"), DM id, or user id (the bot's DM with them).

        Strict like Slack's `channel` argument: a user's name is not a conversation.
        """
        if ref in self.conversations:
            return self.conversations[ref]
        name = ref.removeprefix("#")
        for conversation in self.conversations.values():
            if conversation.kind == "channel" and conversation.name == name:
                return conversation
        user = self.users.get(ref)
        if user is not None and not user.is_bot:
            return self.open_dm(user.id)
        for candidate in self.users.values():
            if ref.startswith("D") and dm_id(candidate.id) == ref and not candidate.is_bot:
                return self.open_dm(candidate.id)
        return None

    def open_dm_between(self, first: str, second: str) -> Conversation:
        """A DM between two people: the bot is not in it, so it does not exist for the bot."""
        channel = "D" + hashlib.sha1(f"{first},{second}".encode()).hexdigest()[:9].upper()
        return self.conversations.setdefault(
            channel, Conversation(channel, "im", first, (first, second))
        )

    def open_dm(self, user_id: str) -> Conversation:
        channel = dm_id(user_id)
        if channel not in self.conversations:
            self.conversations[channel] = Conversation(
                channel, "im", user_id, (user_id, self.bot_user_id)
            )
        return self.conversations[channel]

    # -- queries --

    def messages(self, ref: str, *, replies: bool = False, deleted: bool = False) -> list[Message]:
        conversation = self.conversation(ref)
        if conversation is None:
            return []
        return [
            m
            for m in conversation.messages
            if (replies or not m.is_reply) and (deleted or not m.deleted)
        ]

    def find_message(self, channel: str, ts: str) -> Message | None:
        conversation = self.conversation(channel)
        return conversation.find(ts) if conversation else None

    def ephemerals(self, user_id: str, channel: str | None = None) -> list[Message]:
        found = [
            m
            for conversation in self.conversations.values()
            for m in conversation.ephemerals
            if m.ephemeral_to == user_id and not m.deleted
        ]
        if channel is not None:
            conversation = self.conversation(channel)
            found = [m for m in found if conversation and m.channel == conversation.id]
        return sorted(found, key=lambda m: m.ts)

    def top_modal(self, user_id: str) -> View | None:
        stack = self.modal_stacks.get(user_id)
        return stack[-1] if stack else None

    def view_by_external_id(self, external_id: str) -> View | None:
        for view in self.views.values():
            if view.external_id == external_id and not view.closed:
                return view
        return None

    # -- changes --

    def changed(self, kind: ChangeKind, item: Message | View) -> None:
        change = Change(kind, self.team_id, item)
        self.changes.append(change)
        if self.on_change is not None:
            self.on_change(change)

    def add_message(self, conversation: Conversation, message: Message) -> None:
        if message.ephemeral_to is not None:
            conversation.ephemerals.append(message)
            self.changed("ephemeral", message)
            return
        conversation.messages.append(message)
        if message.is_reply and message.thread_ts is not None:
            parent = conversation.find(message.thread_ts)
            if parent is not None:
                parent.replies.append(message)
        self.changed("reply" if message.is_reply else "message", message)

    def close_modal(self, user_id: str, view_id: str | None = None) -> None:
        """Pops the view (or, with no id, the whole stack) as Slack does on close/submit."""
        stack = self.modal_stacks.get(user_id, [])
        while stack:
            view = stack.pop()
            view.closed = True
            self.changed("view_close", view)
            if view.id == view_id:
                break
