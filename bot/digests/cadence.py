"""When a digest goes out: the `<when>` of recurring runs (`daily HH:MM`, `weekdays HH:MM`,
`weekly <day> HH:MM`, or a 5-field cron), parsed and fired exactly as `bot.timing.schedules` does,
in the subscriber's zone, and said back in words."""

from __future__ import annotations

from bot.commands import usage_error
from bot.slack.text import escape
from bot.timing.when import When, next_fire, parse_when

__all__ = ["When", "describe_when", "next_fire", "parse_cadence"]


def parse_cadence(words: list[str]) -> When:
    """The cadence after `digest` (the channel already taken out); UsageError explains."""
    try:
        when, rest = parse_when(words)
    except ValueError as exc:
        raise usage_error("digest", escape(str(exc))) from None
    if rest:
        raise usage_error(
            "digest",
            f"`{escape(' '.join(rest))}` after `{when.spec}` means nothing to "
            "Baton: give the time, then optionally the channel.",
        )
    return when


def describe_when(spec: str) -> str:
    """`weekdays 09:00` -> `every weekday (Monday to Friday) at 09:00`."""
    words = spec.split()
    if words[0] == "daily":
        return f"every day at {words[1]}"
    if words[0] == "weekdays":
        return f"every weekday (Monday to Friday) at {words[1]}"
    if words[0] == "weekly":
        return f"every {words[1].capitalize()} at {words[2]}"
    return f"on the schedule `{spec}`"
