"""The App Home: asking for it to be redrawn, and publishing it when its turn comes."""

from __future__ import annotations

from bot.notify.handler import Delivery
from bot.notify.outbox import home_conversation
from bot.notify.payloads import Home
from bot.render.home import home_view
from bot.runs.plate import plate
from bot.runtime import Runtime
from bot.work import Work, begin


def refresh_home(work: Work, *, team_id: str, user_id: str) -> None:
    """Ask for someone's App Home to be redrawn (it is rendered when delivered)."""
    work.tell(team_id=team_id, conversation=home_conversation(user_id), note=Home(user_id=user_id))


async def request_home(runtime: Runtime, team_id: str, user_id: str) -> None:
    async with begin(runtime) as work:
        refresh_home(work, team_id=team_id, user_id=user_id)


async def publish_home(delivery: Delivery) -> None:
    runtime, row, client = delivery.runtime, delivery.row, delivery.client
    user_id = Home.decode(row.payload).user_id
    view = home_view(runtime.templates, await plate(runtime, row.team_id, user_id), user_id)
    await client.views_publish(user_id=user_id, view=view)
