"""Slack mrkdwn helpers: escaping what users typed, mentions, dates in the viewer's zone, spans."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.language.assignees import MENTION_ENTITY_RE


def escape(text: str) -> str:
    """Slack's three control characters, so typed text cannot ping @channel or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def echo(text: str) -> str:
    """Typed text shown back in a reply to the person who typed it: escaped, except the
    people, channels and groups Slack linked in it, which come back as clean mentions
    (`<@U0BOB>`, shown as @bob) rather than as their raw `<@U0BOB|bob>`."""
    return _pieces(text, escape, lambda entity: entity)


def echo_code(text: str) -> str:
    """:func:`echo` as inline code; the mentions stand outside the backticks (Slack shows no
    name inside code)."""
    return _pieces(text, lambda plain: f"`{escape(plain)}`", lambda entity: entity)


def _pieces(text: str, plain: Callable[[str], str], entity: Callable[[str], str]) -> str:
    shown, last = [], 0
    for found in MENTION_ENTITY_RE.finditer(text):
        if found.start() > last:
            shown.append(plain(text[last : found.start()]))
        shown.append(entity(f"<{found.group(1)}>"))
        last = found.end()
    if last < len(text) or not shown:
        shown.append(plain(text[last:]))
    return "".join(shown)


def mention(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "nobody"


def is_channel(conversation_id: str) -> bool:
    """A channel (public or private), not a DM: what `<#…>` links to."""
    return conversation_id.startswith(("C", "G"))


def conversation_name(channel_id: str) -> str:
    """A channel as a link; a DM (no channel to link to, and `<#D…>` shows a person's id) as
    words, said to the person who is in it."""
    return f"<#{channel_id}>" if is_channel(channel_id) else "this direct message"


def group_mention(group_id: str) -> str:
    return f"<!subteam^{group_id}>"


def when(moment: datetime, style: str = "{date_short_pretty} {time}") -> str:
    """A time every reader sees in their own Slack time zone; the fallback is UTC."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{style}|{fallback}>"


FENCE = "```"


def clip(text: str, limit: int) -> str:
    """Cut cleanly at a word boundary with an ellipsis, never mid-entity nor inside a Slack
    token (`<@U…>`, `<!date^…|…>`), and close a code block the cut leaves open."""
    if len(text) <= limit:
        return text
    room = limit - 1 - (len(FENCE) if FENCE in text else 0)
    cut = text[:room]
    space = cut.rfind(" ")
    if space > room * 0.6:
        cut = cut[:space]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    angle = cut.rfind("<")  # typed text is escaped, so a `<` opens one of Slack's tokens
    if angle != -1 and ">" not in cut[angle:]:
        cut = cut[:angle]
    cut = cut.rstrip() + "…"
    return cut + FENCE if cut.count(FENCE) % 2 else cut


def plural(count: int, noun: str) -> str:
    """`1 step`, `2 steps`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def format_span(span: timedelta) -> str:
    """Durations as people say them: 2d 3h, 3h 20m, 45m, under a minute."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes and not days else "",
    ]
    return " ".join(part for part in parts if part)
