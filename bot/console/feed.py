"""What changed in the emulated workspace since it was last shown, drawn for the person typing:
one entry per message or view as it is now (a card posted then edited shows once), in an
order that stays the same from run to run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.console.names import Names
from bot.console.screen import Screen
from bot.slack_emulator import Change, Message, SlackEmulator, View
from bot.slack_emulator.state import ChangeKind


class Feed:
    def __init__(self, emulator: SlackEmulator, names: Names) -> None:
        self._names = names
        self._changes: list[Change] = []
        emulator.subscribe(self._changes.append)

    @property
    def pending(self) -> bool:
        """Whether anything changed since the feed was last shown."""
        return bool(self._changes)

    def clear(self) -> None:
        self._changes.clear()

    def show(
        self, screen: Screen, *, viewer: str, filled: Mapping[str, dict[str, Any]]
    ) -> list[Change]:
        """Print what changed since last time, in a stable order (see `_order`). `filled` is
        what `viewer` has typed into each open modal (view id -> {block_id: value})."""
        changes, self._changes[:] = list(self._changes), []
        entries: dict[object, Change] = {}
        for change in changes:
            item = change.item
            home = isinstance(item, View) and item.type == "home"
            key = ("home", item.user_id) if isinstance(item, View) and home else id(item)
            if key not in entries or change.kind in ("delete", "view_close"):
                entries[key] = change
        shown = sorted(entries.values(), key=self._order)
        for change in shown:
            self._show(screen, change.kind, change.item, viewer, filled)
        return shown

    def _order(self, change: Change) -> tuple[int, str, str]:
        """Answers to you first, then modals, channels, DMs by person, App Homes.

        Baton delivers independent conversations side by side, so their arrival order varies
        from run to run; sorting within one line's output keeps button numbers the same every
        time a script runs. Within a channel, arrival order is Baton's own (one conversation
        per run), and Python's stable sort keeps it.
        """
        item = change.item
        if isinstance(item, View):
            return (4 if item.type == "home" else 1, self._names.name(item.user_id), "")
        place = self._names.place(item.channel)
        if item.ephemeral_to is not None:
            return (0, place, "")
        if place.startswith("DM "):
            return (3, place, item.text)  # several steps ready at once: by their text
        return (2, place, "")

    def _show(
        self,
        screen: Screen,
        kind: ChangeKind,
        item: Message | View,
        viewer: str,
        filled: Mapping[str, dict[str, Any]],
    ) -> None:
        if isinstance(item, Message):
            screen.message(
                self.message_header(kind, item, viewer=viewer),
                item,
                seen_by=self._names.seen_by(item),
            )
        elif kind == "view_close":
            screen.say(self.view_header(kind, item))
        else:
            screen.view(self.view_header(kind, item), item, filled.get(item.id, {}))

    def message_header(self, kind: str, message: Message, *, viewer: str) -> str:
        where = self._names.place(message.channel)
        if message.ephemeral_to is not None:
            to = message.ephemeral_to
            where += ", only you" if to == viewer else f", only @{self._names.name(to)}"
        if message.is_reply:
            where += ", thread"
        author = "Baton" if message.bot_id else f"@{self._names.name(message.user)}"
        suffix = {"update": " (edited)", "delete": " (deleted)"}.get(kind, "")
        return f"[{where}] {author}{suffix}:"

    def view_header(self, kind: str, view: View) -> str:
        who = self._names.name(view.user_id)
        if kind == "home" or view.type == "home":
            return f"[App Home @{who}]"
        if kind == "view_close":
            return f"[modal @{who}] {view.title}: closed"
        return f"[modal @{who}] {view.title}"
