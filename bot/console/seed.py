"""The console's first minute: the sample onboarding workflow, imported the way `import` does
(read the YAML, then define it through the workflow service as a person), so what it shows is
what a team would get."""

from __future__ import annotations

from importlib import resources

from sqlmodel import select

from bot.language import parse_yaml
from bot.people.permissions import actor_for
from bot.runtime import Runtime
from bot.workflows import definitions as workflows
from storage.db import unit_of_work
from storage.models import Workflow

SAMPLE_FILE = "sample.yml"


def sample_yaml() -> str:
    return resources.files("bot.console").joinpath(SAMPLE_FILE).read_text(encoding="utf-8")


async def import_sample(runtime: Runtime, *, team_id: str, owner_id: str) -> str | None:
    """Define the sample workflow unless this workspace has ever had one of that name;
    returns its name when it was imported."""
    defn = parse_yaml(sample_yaml())
    async with unit_of_work(runtime.sessions) as session:
        known = await session.exec(
            select(Workflow.id).where(Workflow.team_id == team_id, Workflow.name == defn.name)
        )
        if known.first() is not None:
            return None
    actor = await actor_for(runtime, team_id, owner_id)
    await workflows.define(runtime, actor, defn)
    return defn.name
