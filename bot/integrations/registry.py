"""The admin side of integrations: `hook add | list | remove | test` (SPEC sections 3 and 7)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.commands import usage_error
from bot.core.errors import Conflict, Forbidden, NotFound
from bot.integrations import calls, ssrf
from bot.integrations.secrets import SecretUnavailable, generate, seal, unseal
from bot.integrations.transport import Answer, Unreachable, post_signed
from bot.language.model import INTEGRATION_NAME_RE
from bot.people.permissions import Actor
from bot.runtime import Runtime
from bot.slack.text import escape
from bot.work import begin
from storage.db import unit_of_work
from storage.models import Integration, Workflow, WorkflowStep, WorkflowVersion


@dataclass(frozen=True, slots=True)
class Added:
    integration: Integration
    secret: str  # the only time it is ever shown


@dataclass(frozen=True, slots=True)
class Ping:
    integration: Integration
    answer: Answer | None
    problem: str | None


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("Only workspace admins may manage integrations.")


def _check_name(name: str) -> None:
    if not INTEGRATION_NAME_RE.fullmatch(name):
        raise usage_error(
            "hook",
            f"`{escape(name)}` is not a valid integration name: use lowercase letters, digits, "
            "`-` and `_` (at most 40), e.g. `okta`.",
        )


async def _find(runtime: Runtime, team_id: str, name: str) -> Integration:
    async with unit_of_work(runtime.sessions) as session:
        found = (
            await session.exec(
                select(Integration).where(Integration.team_id == team_id, Integration.name == name)
            )
        ).first()
    if found is None:
        raise NotFound(
            f"There is no integration named `{escape(name)}`. `/baton hook list` shows them."
        )
    return found


async def add(runtime: Runtime, actor: Actor, name: str, url: str) -> Added:
    _require_admin(actor)
    _check_name(name)
    try:
        async with asyncio.timeout(calls.CALL_TIMEOUT):
            target = await ssrf.check(
                url,
                allow_private=runtime.settings.BATON_HOOK_ALLOW_PRIVATE,
                resolver=runtime.resolver,
            )
    except ssrf.Refused as exc:
        raise usage_error(
            "hook", f"Baton will not call `{escape(url)}`: {escape(str(exc))}."
        ) from None
    except TimeoutError:
        raise usage_error("hook", f"`{escape(url)}`: its host did not resolve in time.") from None
    secret = generate()
    row = Integration(
        team_id=actor.team_id,
        name=name,
        url=str(target.url),
        secret=seal(secret, runtime.settings.BATON_SECRET_KEY),
        created_by=actor.user_id,
        created_at=runtime.clock.now(),
    )
    taken = Conflict(
        f"There is already an integration named `{name}`. Remove it first with "
        f"`/baton hook remove {name}`, or pick another name."
    )
    try:
        async with begin(runtime) as work:
            exists = (
                await work.session.exec(
                    select(Integration.id).where(
                        Integration.team_id == actor.team_id, Integration.name == name
                    )
                )
            ).first()
            if exists is not None:
                raise taken
            work.session.add(row)
            work.audit(
                team_id=actor.team_id,
                actor_id=actor.user_id,
                action="integration.added",
                integration=name,
                url=row.url,
            )
    except IntegrityError:
        raise taken from None  # a second admin added the same name at the same moment
    return Added(row, secret)


async def list_all(runtime: Runtime, actor: Actor) -> list[Integration]:
    _require_admin(actor)
    async with unit_of_work(runtime.sessions) as session:
        rows = await session.exec(
            select(Integration)
            .where(Integration.team_id == actor.team_id)
            .order_by(col(Integration.name))
        )
        return list(rows.all())


async def users_of(runtime: Runtime, team_id: str, name: str) -> list[str]:
    """Active workflows whose current version has a step calling this integration."""
    async with unit_of_work(runtime.sessions) as session:
        names = await session.exec(
            select(Workflow.name)
            .join(WorkflowVersion, col(WorkflowVersion.workflow_id) == col(Workflow.id))
            .join(WorkflowStep, col(WorkflowStep.version_id) == col(WorkflowVersion.id))
            .where(
                Workflow.team_id == team_id,
                col(Workflow.archived_at).is_(None),
                col(WorkflowVersion.number) == col(Workflow.latest_version),
                WorkflowStep.hook == name,
            )
            .distinct()
            .order_by(col(Workflow.name))
        )
        return list(names.all())


async def remove(runtime: Runtime, actor: Actor, name: str) -> list[str]:
    """Remove the integration; returns the workflows that still name it."""
    _require_admin(actor)
    found = await _find(runtime, actor.team_id, name)
    async with begin(runtime) as work:
        await work.session.exec(delete(Integration).where(col(Integration.id) == found.id))
        work.audit(
            team_id=actor.team_id,
            actor_id=actor.user_id,
            action="integration.removed",
            integration=name,
        )
    return await users_of(runtime, actor.team_id, name)


async def ping(runtime: Runtime, actor: Actor, name: str) -> Ping:
    """Send a signed `{"event": "ping"}` and report the answer, exactly as a hook call goes."""
    _require_admin(actor)
    found = await _find(runtime, actor.team_id, name)
    try:
        secret = unseal(found.secret, runtime.settings.BATON_SECRET_KEY)
    except SecretUnavailable as exc:
        return Ping(found, None, f"Baton cannot read its secret: {exc}")
    body = json.dumps(
        {"event": "ping", "team_id": actor.team_id, "integration": name}, separators=(",", ":")
    ).encode()
    try:
        answer = await post_signed(
            found.url,
            body,
            secret=secret,
            now=runtime.wall.now(),
            allow_private=runtime.settings.BATON_HOOK_ALLOW_PRIVATE,
            resolver=runtime.resolver,
            time_limit=calls.CALL_TIMEOUT,
            timer=runtime.deadlines,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    except Unreachable as exc:
        return Ping(found, None, str(exc))
    return Ping(found, answer, None)
