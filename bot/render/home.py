"""The App Home tab and the `mine` message."""

from __future__ import annotations

from typing import Any

from bot.render.blocks import Block, context, divider, header, section
from bot.render.runs import step_lines, step_list_blocks
from bot.runs.plate import Plate
from bot.slack.text import mention, when
from bot.templates import Templates


def home_view(templates: Templates, plate: Plate, user_id: str) -> dict[str, Any]:
    blocks: list[Block] = [header("Your work in Baton")]
    if plate.overdue:
        overdue = plate.overdue[:10]
        shown = step_lines(templates, (step for _, step in overdue))
        lines = [
            f"⏰ {line} · run `{run.key}`" for (run, _), line in zip(overdue, shown, strict=True)
        ]
        more = f"\n…and {len(plate.overdue) - 10} more" if len(plate.overdue) > 10 else ""
        blocks.append(section("*Overdue*\n" + "\n".join(lines) + more))
    blocks.append(section(f"*Your steps* ({len(plate.steps)})"))
    if plate.steps:
        blocks += step_list_blocks(templates, plate.steps, user_id, limit=15)
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


def mine_message(templates: Templates, plate: Plate, user_id: str) -> tuple[str, list[Block]]:
    if not plate.steps:
        return "Nothing is waiting for you.", [section("Nothing is waiting for you. 🎉")]
    head = f"*Your open steps* ({len(plate.steps)}) for {mention(user_id)}"
    blocks = [section(head), *step_list_blocks(templates, plate.steps, user_id, limit=10)]
    return f"Your open steps ({len(plate.steps)})", blocks
