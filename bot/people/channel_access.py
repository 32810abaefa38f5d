"""A channel named in a command (`#channel`) or picked in the builder: Baton posts run cards
and digests there only for people in it, and only when it can see the channel itself.

The channel a command was typed in needs no check (the person is there); callers skip it.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.core.errors import Forbidden
from bot.runtime import Runtime
from bot.slack.text import conversation_name

# What Slack answers conversations.members when the bot cannot see the channel: a private
# channel it was never invited to (or one that no longer exists).
BOT_CANNOT_SEE = frozenset({"channel_not_found", "not_in_channel"})
COMMAND_FIX = "Join it first, or leave out the channel to use the one you are typing in."


class ChannelRefused(Forbidden):
    """The caller may not send Baton's messages to this channel; nothing was changed."""

    def __init__(self, message: str, channel_id: str) -> None:
        super().__init__(message)
        self.channel_id = channel_id


async def require_member(
    runtime: Runtime,
    *,
    team_id: str,
    user_id: str,
    channel_id: str,
    fix: str = COMMAND_FIX,
    label: str | None = None,
) -> None:
    """Raises ChannelRefused, naming the channel, unless `user_id` is a member of it and Baton
    can see it. `fix` tells a non-member what to do instead; `label` names the channel where
    Slack shows text as typed (a modal's inline error), instead of the `<#C…>` link."""
    shown = label or f"<#{channel_id}>"
    try:
        member = await runtime.directory.is_channel_member(team_id, channel_id, user_id)
    except SlackApiError as error:
        raise ChannelRefused(_slack_refusal(shown, error), channel_id) from None
    except (OSError, aiohttp.ClientError):
        raise ChannelRefused(
            f"Baton couldn't reach Slack to check who is in {shown}. "
            "Nothing was changed; please try again.",
            channel_id,
        ) from None
    if not member:
        raise ChannelRefused(
            f"You are not a member of {shown}, so Baton won't post there for you. {fix}",
            channel_id,
        )


def _slack_refusal(shown: str, error: SlackApiError) -> str:
    response = error.response
    code = str(response.get("error") or "") if response is not None else ""
    if code in BOT_CANNOT_SEE:
        return (
            f"Baton can't see {shown}, so it cannot post there: type `/invite @Baton` in that "
            "channel, then try again."
        )
    if code == "missing_scope":
        needed = str(response.get("needed") or "channels:read,groups:read")
        return (
            f"Baton can't check who is in {shown}: the app lacks Slack's `{needed}` "
            "permission. Ask a workspace admin to reinstall Baton."
        )
    return (
        f"Baton couldn't check who is in {shown} (Slack said `{code or 'error'}`). "
        "Nothing was changed; please try again."
    )


async def require_postable(runtime: Runtime, *, team_id: str, channel_id: str, fix: str) -> None:
    """Raises ChannelRefused unless Baton can post in the channel: it sees it (a private
    channel it was invited to, or a DM with Baton) and it is not archived. `fix` says what
    else the person can do; a refusal is better than a "Started" whose card never arrives."""
    if (team_id, channel_id) in runtime.postable:
        return
    shown = conversation_name(channel_id)
    client = await runtime.slack.for_team(team_id)
    try:
        found = await client.conversations_info(channel=channel_id)
    except SlackApiError as error:
        response = error.response
        code = str(response.get("error") or "") if response is not None else ""
        if code in BOT_CANNOT_SEE:
            if channel_id.startswith("D"):
                raise ChannelRefused(
                    f"Baton can't post in a direct message between people. {fix}", channel_id
                ) from None
            raise ChannelRefused(
                f"Baton can't post in {shown}: type `/invite @Baton` there first. {fix}",
                channel_id,
            ) from None
        raise ChannelRefused(_slack_refusal(shown, error), channel_id) from None
    except (OSError, aiohttp.ClientError):
        raise ChannelRefused(
            f"Baton couldn't reach Slack to check {shown}. Nothing was changed; please try again.",
            channel_id,
        ) from None
    if (found.get("channel") or {}).get("is_archived"):
        raise ChannelRefused(f"{shown} is archived, so Baton can't post there. {fix}", channel_id)
    runtime.postable[(team_id, channel_id)] = True
