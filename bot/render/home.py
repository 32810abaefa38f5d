"""The App Home tab and the `mine` message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.render.blocks import Block, context, divider, section
from bot.render.runs import step_line, step_list_blocks
from bot.slack_text import mention, when

if TYPE_CHECKING:  # bot.home renders with these; importing it here would be circular
    from bot.home import Plate


def home_view(plate: Plate, user_id: str) -> dict[str, Any]:
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your work in Baton"}},
    ]
    if plate.overdue:
        lines = [f"⏰ {step_line(step)} · run `{run.key}`" for run, step in plate.overdue[:10]]
        more = f"\n…and {len(plate.overdue) - 10} more" if len(plate.overdue) > 10 else ""
        blocks.append(section("*Overdue*\n" + "\n".join(lines) + more))
    blocks.append(section(f"*Your steps* ({len(plate.steps)})"))
    if plate.steps:
        blocks += step_list_blocks(plate.steps, user_id, limit=15)
    else:
        blocks.append(context("Nothing waiting for you."))
    blocks.append(divider())
    runs = [f"`{run.key}` {run.title} · started {when(run.created_at)}" for run in plate.runs[:15]]
    more = f"\n…and {len(plate.runs) - 15} more" if len(plate.runs) > 15 else ""
    blocks.append(
        section(f"*Runs you own* ({len(plate.runs)})\n" + ("\n".join(runs) + more or "None."))
    )
    blocks.append(context("`/baton mine` shows your steps anywhere; `/baton help` for the rest."))
    return {"type": "home", "blocks": blocks[:100]}


def mine_message(plate: Plate, user_id: str) -> tuple[str, list[Block]]:
    if not plate.steps:
        return "Nothing is waiting for you.", [section("Nothing is waiting for you. 🎉")]
    head = f"*Your open steps* ({len(plate.steps)}) for {mention(user_id)}"
    blocks = [section(head), *step_list_blocks(plate.steps, user_id, limit=10)]
    return f"Your open steps ({len(plate.steps)})", blocks
