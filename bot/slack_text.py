"""Slack mrkdwn helpers: escaping what users typed, mentions, dates in the viewer's zone, spans."""

from __future__ import annotations

from datetime import datetime, timedelta


def escape(text: str) -> str:
    """Slack's three control characters, so typed text cannot ping @channel or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "nobody"


def group_mention(group_id: str) -> str:
    return f"<!subteam^{group_id}>"


def when(moment: datetime, style: str = "{date_short_pretty} {time}") -> str:
    """A time every reader sees in their own Slack time zone; the fallback is UTC."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{style}|{fallback}>"


def clip(text: str, limit: int) -> str:
    """Cut cleanly at a word boundary with an ellipsis, never mid-entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + "…"


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
