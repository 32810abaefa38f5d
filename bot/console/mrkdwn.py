"""Slack mrkdwn as a person reads it in the Slack client, for a terminal.

Mentions become @name and #channel, `<!date^…>` is shown in the reader's own time zone (as
Slack does), links show their label and address, and the three escaped characters come back.
Bold, italics and inline code keep their markers: they read fine as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from bot.core.clock import Clock
from bot.slack_emulator import Workspace

_ENTITY: Final = re.compile(r"<([^<>]*)>")
_DATE_TOKEN: Final = re.compile(r"\{(\w+)\}")
_SPECIAL: Final = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


@dataclass(frozen=True)
class Reader:
    """Who reads: their workspace (for names), their zone, and the business clock (for what
    "today" is when the text is drawn)."""

    workspace: Workspace
    zone: ZoneInfo
    clock: Clock

    def text(self, mrkdwn: str) -> str:
        """One mrkdwn string as the reader sees it."""
        shown = _ENTITY.sub(lambda match: self._entity(match.group(1)), mrkdwn)
        return shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def lines(self, mrkdwn: str) -> list[str]:
        """The text as lines, with ``` code blocks set off by indentation instead of fences."""
        out: list[str] = []
        for index, part in enumerate(self.text(mrkdwn).split("```")):
            if index % 2:  # inside a fence
                out.extend("    " + line for line in part.strip("\n").splitlines())
            else:
                out.extend(line for line in part.strip("\n").splitlines() if part.strip())
        return out

    def _entity(self, inner: str) -> str:
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user = self.workspace.user(target[1:])
            return f"@{user.name}" if user else f"@{label or target[1:]}"
        if target.startswith("#"):
            conversation = self.workspace.conversation(target[1:])
            name = conversation.name if conversation else label or target[1:]
            return f"#{name}"
        if target.startswith("!subteam^"):
            group = self.workspace.usergroup(target.removeprefix("!subteam^"))
            return f"@{group.handle}" if group else label or "@group"
        if target.startswith("!date^"):
            return self._date(target.removeprefix("!date^"), label)
        if target.startswith("!"):
            return _SPECIAL.get(target[1:], label or target)
        return f"{label} ({target})" if label and label != target else target

    def _date(self, spec: str, fallback: str) -> str:
        parts = spec.split("^")
        try:
            moment = datetime.fromtimestamp(int(parts[0]), UTC).astimezone(self.zone)
        except (ValueError, OverflowError, OSError):
            return fallback
        style = parts[1] if len(parts) > 1 else "{date_short} {time}"
        today = self.clock.now().astimezone(self.zone).date()

        def token(match: re.Match[str]) -> str:
            render = _DATE_TOKENS.get(match.group(1))
            return render(moment, today) if render else match.group(0)

        return _DATE_TOKEN.sub(token, style)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _date(moment: datetime) -> str:
    return f"{moment:%B} {_ordinal(moment.day)}, {moment.year}"


def _pretty(moment: datetime, today: date, plain: Callable[[datetime], str]) -> str:
    words = {-1: "yesterday", 0: "today", 1: "tomorrow"}
    return words.get((moment.date() - today).days) or plain(moment)


def _date_short(moment: datetime) -> str:
    return f"{moment:%b} {moment.day}, {moment.year}"


def _date_long(moment: datetime) -> str:
    return f"{moment:%A}, {_date(moment)}"


# Slack's documented tokens; times in 24-hour form, as Slack shows them to most of the world.
_DATE_TOKENS: Final[dict[str, Callable[[datetime, date], str]]] = {
    "date_num": lambda m, _: f"{m:%Y-%m-%d}",
    "date": lambda m, _: _date(m),
    "date_short": lambda m, _: _date_short(m),
    "date_long": lambda m, _: _date_long(m),
    "date_pretty": lambda m, today: _pretty(m, today, _date),
    "date_short_pretty": lambda m, today: _pretty(m, today, _date_short),
    "date_long_pretty": lambda m, today: _pretty(m, today, _date_long),
    "time": lambda m, _: f"{m:%H:%M}",
    "time_secs": lambda m, _: f"{m:%H:%M:%S}",
}
