"""`/baton digest daily|weekdays|weekly <day> HH:MM | off | now`, each with an optional #channel."""

from __future__ import annotations

from bot.commands import usage_error
from bot.digests import subscriptions
from bot.digests.cadence import parse_cadence
from bot.notify.replies import Reply
from bot.people.channel_access import require_member, require_postable
from bot.runtime import Runtime
from bot.slack.text import is_channel
from handlers.requests import SlashRequest
from handlers.runs import CHANNEL


def _channel_and_words(request: SlashRequest) -> tuple[str, list[str]]:
    """The channel named with #channel (Slack escapes it to <#C123|name>), else the one the
    command was typed in."""
    channel, words = request.channel_id, []
    for word in request.command.args:
        found = CHANNEL.fullmatch(word)
        if found is not None:
            channel = found.group(1)
        else:
            words.append(word)
    if not is_channel(channel):
        raise usage_error(
            "digest",
            "Digests go to a channel: type this in the channel, or "
            "add the channel, e.g. `#general`.",
        )
    return channel, words


async def digest(runtime: Runtime, request: SlashRequest) -> Reply:
    channel, words = _channel_and_words(request)
    team = request.team_id
    verb = words[0].lower() if words else ""
    if verb in ("off", "now") and len(words) > 1:
        raise usage_error("digest", f"`digest {verb}` takes only a channel.")
    cadence = parse_cadence(words) if words and verb not in ("off", "now") else None
    if channel != request.channel_id:  # "anyone in the channel": where it was typed, or a member
        await require_member(runtime, team_id=team, user_id=request.user_id, channel_id=channel)
    if cadence is not None or verb == "now":  # else a digest is promised that never comes
        fix = "Or add a channel Baton is in, e.g. `#general`."
        await require_postable(runtime, team_id=team, channel_id=channel, fix=fix)
    if cadence is not None:
        row = await subscriptions.subscribe(
            runtime, team_id=team, user_id=request.user_id, channel_id=channel, cadence=cadence
        )
        return Reply(f"{subscriptions.describe(row)} `/baton digest off` stops it.")
    if verb == "off":
        stopped = await subscriptions.unsubscribe(
            runtime, team_id=team, user_id=request.user_id, channel_id=channel
        )
        if stopped is None:
            return Reply(f"<#{channel}> has no status digest to stop.")
        return Reply(f"Stopped the status digest for <#{channel}>.")
    if verb == "now":
        await subscriptions.send_now(
            runtime, team_id=team, user_id=request.user_id, channel_id=channel
        )
        return Reply(f"A status digest for <#{channel}> is on its way.")
    found = await subscriptions.subscription(runtime, team_id=team, channel_id=channel)
    if found is None:
        raise usage_error("digest", f"<#{channel}> has no status digest yet.")
    return Reply(subscriptions.describe(found))
