"""Redrawing a message whose buttons were used: the run owner's failed-step and escalation DMs
keep no record of themselves, so the clicked message (as Slack sends it back with the click)
is redrawn with that step's buttons replaced by what was done, as step DMs are."""

from __future__ import annotations

from typing import Any

from bot.core.clock import Clock
from bot.notify.payloads import Redraw
from bot.render.blocks import context
from bot.runtime import Runtime
from bot.slack.text import when
from bot.work import begin


def settled_blocks(
    blocks: tuple[dict[str, Any], ...], block_id: str, outcome: str
) -> list[dict[str, Any]] | None:
    """`blocks` with the actions block `block_id` replaced by `outcome`; None if it is absent."""
    if not any(block.get("block_id") == block_id for block in blocks):
        return None
    return [context(outcome) if block.get("block_id") == block_id else block for block in blocks]


def outcome_line(verb: str, user_id: str, clock: Clock) -> str:
    """ "Skipped by @ana at 14:02", in the reader's zone."""
    return f"{verb} by <@{user_id}> at {when(clock.now(), '{time}')}"


async def redraw(
    runtime: Runtime,
    *,
    team_id: str,
    user_id: str,
    channel_id: str,
    ts: str,
    text: str,
    blocks: list[dict[str, Any]],
) -> None:
    """Queue the message's redraw after whatever else goes to that person (ordered as DMs)."""
    async with begin(runtime) as work:
        work.tell(
            team_id=team_id,
            conversation=user_id,
            note=Redraw(channel_id=channel_id, ts=ts, text=text, blocks=blocks),
        )
