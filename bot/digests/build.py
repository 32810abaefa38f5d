"""The digest of one channel: what a team lead reads every morning.

`gather` (`bot.digests.reading`) reads what the digest needs; `compose` turns it into prose
from the `digest.j2` template through the views of `bot.digests.views`, laid out by
`bot.render.blocks` inside Block Kit's limits. Only the lines that are shown are rendered and
only the runs that need a projection get one, so the cost of a big channel is the cost of
reading its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bot.digests.reading import DigestData, gather
from bot.digests.subscriptions import Window
from bot.digests.views import DigestViews, Summary
from bot.render import blocks as kit
from bot.runtime import Runtime
from bot.templates.engine import Macros, Mrkdwn
from storage.db import unit_of_work

TEMPLATE = "digest.j2"
# Lines shown per part of the digest, and the sections each part may take: together well
# inside a message's 50 blocks, and short enough to read over coffee.
LIMITS = {
    "attention": (25, 6),
    "at_risk": (10, 3),
    "active": (25, 6),
    "finished": (15, 3),
    "bottlenecks": (5, 1),
    "people": (15, 2),
}


def _lazy(items: Sequence[Any], make: Callable[[Any], Any]) -> Iterator[Any]:
    return (make(item) for item in items)


def compose(data: DigestData, macros: Macros) -> tuple[str, list[dict[str, Any]]]:
    """The digest as (notification text, blocks)."""
    digest = DigestViews(data)
    attention = digest.attention()
    risks = digest.at_risk()
    finished = digest.finished()
    summary = Summary(
        channel=Mrkdwn(f"<#{data.channel_id}>"),
        now=data.now,
        since=data.window.since,
        active=len(data.active),
        attention=len(attention),
        at_risk=len(risks),
        finished=len(finished),
    )
    text = kit.fallback(macros("fallback", summary), "Status digest")
    if data.quiet:
        return text, [kit.section(macros("quiet", summary))]

    def more(part: str) -> Callable[[int], str]:
        return lambda n: macros("more", part, n, summary)

    def part(name: str, items: Sequence[Any], make: Callable[[Any], Any], line: str) -> None:
        if not items:
            return
        max_lines, max_blocks = LIMITS[name]
        if len(blocks) > 2:
            blocks.append(kit.divider())
        blocks.extend(
            kit.listing(
                _lazy(items, make),
                len(items),
                lambda view: macros(line, view),
                more(name),
                max_lines=max_lines,
                max_blocks=max_blocks,
                heading=macros("heading", name, len(items)),
            )
        )

    blocks: list[kit.Block] = [
        kit.header(macros("header", summary)),
        kit.context(macros("summary", summary)),
    ]
    part("attention", attention, digest.step_view, "attention_line")
    part("at_risk", risks, digest.risk_view, "risk_line")
    part("active", data.active, digest.run_view, "run_line")
    part("finished", finished, lambda view: view, "finished_line")
    part("bottlenecks", data.bottlenecks, lambda found: found, "bottleneck_line")
    part("people", digest.people(), lambda view: view, "person_line")
    blocks.append(kit.context(macros("footer", summary)))
    return text, kit.checked(blocks)


@dataclass(frozen=True, slots=True)
class BuiltDigest:
    text: str
    blocks: list[dict[str, Any]]
    quiet: bool  # it only says "all quiet"


async def build_digest(
    runtime: Runtime, *, team_id: str, channel_id: str, window: Window
) -> BuiltDigest:
    """The digest for a channel as it stands now (business time)."""
    now = runtime.clock.now()
    async with unit_of_work(runtime.sessions) as session:
        data = await gather(session, team_id=team_id, channel_id=channel_id, now=now, window=window)
    text, blocks = compose(data, runtime.templates.macros(TEMPLATE))
    return BuiltDigest(text, blocks, data.quiet)
