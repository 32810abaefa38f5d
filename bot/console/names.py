"""The people and conversations of the emulated workspace by the names a person types and
reads: @alice, #onboarding, DM @bob."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.console.errors import ConsoleError
from bot.slack_emulator import Message, SlackEmulator, User, Workspace


class Names:
    def __init__(self, emulator: SlackEmulator) -> None:
        self._emulator = emulator

    @property
    def workspace(self) -> Workspace:
        return self._emulator.workspace()

    def person(self, user_id: str) -> User:
        user = self.workspace.user(user_id)
        if user is None:
            raise ConsoleError(f"There is no user {user_id}.")
        return user

    def name(self, user_id: str) -> str:
        user = self.workspace.user(user_id)
        return user.name if user else user_id

    def names(self, user_ids: tuple[str, ...]) -> str:
        return ", ".join(f"@{self.name(u)}" for u in user_ids if u != self.workspace.bot_user_id)

    def people(self) -> list[User]:
        return [u for u in self.workspace.users.values() if not u.is_bot]

    def channels(self) -> list[str]:
        return [c.name for c in self.workspace.conversations.values() if c.kind == "channel"]

    def zone(self, user_id: str) -> ZoneInfo:
        return ZoneInfo(self.person(user_id).tz)

    def place(self, channel_id: str) -> str:
        conversation = self.workspace.conversation(channel_id)
        if conversation is None:
            return channel_id
        if conversation.kind == "im":
            return f"DM @{self.name(conversation.name)}"
        return f"#{conversation.name}"

    def seen_by(self, message: Message) -> str | None:
        """Who alone sees the message (an ephemeral one, or one in a DM), if anyone."""
        if message.ephemeral_to is not None:
            return message.ephemeral_to
        conversation = self.workspace.conversation(message.channel)
        return conversation.name if conversation and conversation.kind == "im" else None

    def find_user(self, word: str) -> User | None:
        name = word.removeprefix("@")
        user = self.workspace.user(name) or self.workspace.user(name.lower())
        return None if user is None or user.is_bot else user

    def user_id(self, word: str) -> str:
        user = self.find_user(word)
        if user is None:
            raise ConsoleError(f"There is no one called {word}.")
        return user.id

    def channel_id(self, word: str) -> str:
        conversation = self.workspace.conversation(word.removeprefix("#").lower())
        if conversation is None or conversation.kind != "channel":
            raise ConsoleError(f"There is no channel {word}.")
        return conversation.id
