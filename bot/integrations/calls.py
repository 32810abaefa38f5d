"""Calling a hook step's integration when the step is ready (SPEC section 7).

`bot.runs.engine.make_ready` writes a `hook_call` Timer row due at once. Each sweep this tick job
claims due rows with a lease (state `calling`, `claimed_by`, `due_at` moved to the lease's end),
makes the HTTP call outside any transaction, and then records the outcome in one transaction
with the check that it still holds the claim. A process that dies mid-call leaves a lease that
runs out; the next sweep calls again with the same Idempotency-Key, so the receiver can tell it
is the same request, and an answer arriving after its lease ran out changes nothing.

Retries live in the same row: `attempt` counts the tries that got no usable answer and `due_at`
is when the next one is due, so the schedule survives restarts. A manual Retry makes the step
ready again, which writes a new row: a new Idempotency-Key and callback URL for a new request.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.integrations import outcomes
from bot.integrations.answers import Outcome, Verdict, judge
from bot.integrations.secrets import SecretUnavailable, unseal
from bot.integrations.signing import callback_token
from bot.integrations.transport import Unreachable, post_signed
from bot.runs.engine import tell_thread
from bot.runtime import Runtime
from bot.slack.text import when
from bot.timing.sweep import Sweeper
from bot.work import begin
from storage.db import is_postgres, unit_of_work
from storage.models import Integration, Run, StepRun, Timer, Workflow
from storage.vocabulary import RunState, StepKind, StepState, TimerKind, TimerState
from storage.workspaces import installed

log = logging.getLogger("baton.integrations")

TIMER_KIND = TimerKind.HOOK_CALL
CALL_TIMEOUT = 10.0  # seconds, SPEC section 7; tests shorten it
# Waits before tries 2 to 5: five tries within about an hour.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=4),
    timedelta(minutes=15),
    timedelta(minutes=40),
)
TRIES = len(RETRY_DELAYS) + 1
LEASE = timedelta(minutes=2)  # well past CALL_TIMEOUT: only a dead process lets it run out
BATCH = 20
CALLBACK_PATH = "/hooks/callback/"


@dataclass(frozen=True, slots=True)
class Claim:
    """One due call this process holds the lease for, with everything needed to make it."""

    timer_id: int
    lease_until: datetime
    attempt: int
    team_id: str
    run_id: int
    run_key: str
    step_key: str
    integration: str
    idempotency_key: str
    url: str = ""
    secret: str = ""
    body: bytes = b""
    problem: str | None = None  # a reason to fail the step without calling


def idempotency_key(team_id: str, step_run_id: int, timer_id: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"baton:{team_id}:{step_run_id}:{timer_id}"))


def plain(mrkdwn: str) -> str:
    """A stored title as the person typed it (titles are kept Slack-escaped)."""
    return html.unescape(mrkdwn)


async def call_due_hooks(runtime: Runtime, now: datetime) -> int:
    """The sweep's tick job: claim due calls, make them side by side, record the outcomes;
    batch after batch while full ones come back."""
    done = 0
    while True:
        claims = await claim_due(runtime, now)
        await asyncio.gather(*(call(runtime, claim) for claim in claims))
        done += len(claims)
        if len(claims) < BATCH:
            return done


async def claim_due(runtime: Runtime, now: datetime) -> list[Claim]:
    lease_until = now + LEASE
    claims: list[Claim] = []
    async with unit_of_work(runtime.sessions) as session:
        query = (
            select(Timer)
            .where(
                col(Timer.state).in_((TimerState.PENDING, TimerState.CALLING)),
                col(Timer.due_at) <= now,
                col(Timer.kind) == TIMER_KIND,
                installed(col(Timer.team_id)),
            )
            .order_by(col(Timer.due_at), col(Timer.id))
            .limit(BATCH)
        )
        if is_postgres(runtime.engine):
            query = query.with_for_update(skip_locked=True)
        for timer in (await session.exec(query)).all():
            # A pending row, or a `calling` row whose lease ran out (its process died).
            claimed = await session.exec(
                update(Timer)
                .where(
                    col(Timer.id) == timer.id,
                    col(Timer.state).in_((TimerState.PENDING, TimerState.CALLING)),
                    col(Timer.due_at) <= now,
                )
                .values(
                    state=TimerState.CALLING,
                    claimed_by=runtime.worker_id,
                    due_at=lease_until,
                    fired_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                continue
            claim = await _prepare(session, runtime, timer, lease_until)
            if claim is None:
                await _set_state(session, timer.id, TimerState.CANCELLED)
            else:
                claims.append(claim)
    return claims


async def _set_state(session: AsyncSession, timer_id: int | None, state: TimerState) -> None:
    await session.exec(
        update(Timer)
        .where(col(Timer.id) == timer_id)
        .values(state=state)
        .execution_options(synchronize_session=False)
    )


async def _prepare(
    session: AsyncSession, runtime: Runtime, timer: Timer, lease_until: datetime
) -> Claim | None:
    """The call for a claimed timer, or None when its step no longer waits for it."""
    step = await session.get(StepRun, timer.step_run_id) if timer.step_run_id else None
    run = await session.get(Run, step.run_id) if step else None
    if step is None or run is None or step.kind != StepKind.HOOK or run.state != RunState.ACTIVE:
        return None
    if step.state not in (StepState.READY, StepState.IN_PROGRESS):
        return None
    assert timer.id is not None and step.id is not None and run.id is not None
    workflow = await session.get(Workflow, run.workflow_id)
    integration = (
        await session.exec(
            select(Integration).where(
                Integration.team_id == run.team_id, Integration.name == step.hook
            )
        )
    ).first()
    name = step.hook or ""
    claim = Claim(
        timer_id=timer.id,
        lease_until=lease_until,
        attempt=timer.attempt,
        team_id=run.team_id,
        run_id=run.id,
        run_key=run.key,
        step_key=step.step_key,
        integration=name,
        idempotency_key=idempotency_key(run.team_id, step.id, timer.id),
    )
    if integration is None:
        return replace(claim, problem=f"there is no integration named `{name}` any more")
    try:
        secret = unseal(integration.secret, runtime.settings.BATON_SECRET_KEY)
    except SecretUnavailable as exc:
        return replace(claim, problem=f"Baton cannot read `{name}`'s secret: {exc}")
    token = callback_token(timer.id, secret)
    body = {
        "event": "step.ready",
        "team_id": run.team_id,
        "run": {
            "id": run.key,
            "title": plain(run.title),
            "workflow": workflow.name if workflow else "",
            "owner": run.owner_id,
            "channel": run.channel_id,
            "started_at": run.created_at.isoformat(),
        },
        "step": {
            "id": step.step_key,
            "title": plain(step.title),
            "integration": name,
            "ready_at": (step.ready_at or timer.created_at).isoformat(),
        },
        "params": run.params,
        "callback_url": runtime.settings.public_url + CALLBACK_PATH + token,
    }
    encoded = json.dumps(body, separators=(",", ":")).encode()
    return replace(claim, url=integration.url, secret=secret, body=encoded)


async def call(runtime: Runtime, claim: Claim) -> None:
    """Make one claimed call and record what it means for the step."""
    if claim.problem is not None:
        outcome = Outcome(Verdict.FAILED, claim.problem)
    else:
        try:
            answer = await post_signed(
                claim.url,
                claim.body,
                secret=claim.secret,
                now=runtime.wall.now(),
                allow_private=runtime.settings.BATON_HOOK_ALLOW_PRIVATE,
                resolver=runtime.resolver,
                time_limit=CALL_TIMEOUT,
                timer=runtime.deadlines,
                headers={
                    "Idempotency-Key": claim.idempotency_key,
                    "X-Baton-Attempt": str(claim.attempt + 1),
                },
            )
        except Unreachable as exc:
            verdict = Verdict.RETRY if exc.retryable else Verdict.FAILED
            outcome = Outcome(verdict, str(exc))
        else:
            outcome = judge(answer.status, answer.body, answer.headers)
    try:
        await record(runtime, claim, outcome)
    except Exception:
        # The lease runs out and a later sweep calls again with the same Idempotency-Key.
        log.exception("recording hook call %s failed", claim.timer_id)


async def record(runtime: Runtime, claim: Claim, outcome: Outcome) -> None:
    if outcome.verdict == Verdict.RETRY and claim.attempt + 1 >= TRIES:
        outcome = Outcome(
            Verdict.FAILED, f"gave no usable answer in {TRIES} tries (last: {outcome.message})"
        )
    if outcome.verdict in (Verdict.DONE, Verdict.FAILED):
        await _conclude(runtime, claim, outcome)
    elif outcome.verdict == Verdict.ACCEPTED:
        await _accepted(runtime, claim)
    else:
        await _retry_later(runtime, claim, outcome)


def _held(claim: Claim) -> list[ColumnElement[bool]]:
    """The conditions under which this process still holds the claim."""
    return [
        col(Timer.id) == claim.timer_id,
        col(Timer.state) == TimerState.CALLING,
        col(Timer.due_at) == claim.lease_until,
    ]


async def _conclude(runtime: Runtime, claim: Claim, outcome: Outcome) -> None:
    """The call is over: fire its timer and record the step's outcome in one transaction, and
    only while this process still holds the claim. An answer that comes back after the lease
    ran out (another replica has taken the call over) changes nothing; that replica's own
    answer decides the step."""
    async with begin(runtime) as work:
        held = await work.session.exec(
            update(Timer)
            .where(*_held(claim))
            .values(state=TimerState.FIRED)
            .execution_options(synchronize_session=False)
        )
        if held.rowcount != 1:
            log.info("hook call %s answered after its lease ran out; ignored", claim.timer_id)
            return
        if outcome.verdict == Verdict.DONE:
            await outcomes.apply_complete(
                work, runtime, claim.team_id, claim.run_key, claim.step_key, outcome.output
            )
        else:
            said = f"`{claim.integration}` {outcome.message}"
            reason = outcome.message if claim.problem else said
            await outcomes.apply_fail(
                work, runtime, claim.team_id, claim.run_key, claim.step_key, reason
            )


async def _accepted(runtime: Runtime, claim: Claim) -> None:
    async with begin(runtime) as work:
        result = await work.session.exec(
            update(Timer)
            .where(*_held(claim))
            .values(state=TimerState.FIRED)
            .execution_options(synchronize_session=False)
        )
        run = await work.session.get(Run, claim.run_id)
        if result.rowcount != 1 or run is None or run.state != RunState.ACTIVE:
            return
        work.audit(
            team_id=claim.team_id,
            run_id=claim.run_id,
            step_key=claim.step_key,
            actor_id=None,
            action="hook.accepted",
            integration=claim.integration,
        )
        tell_thread(
            work,
            run,
            f"`{claim.step_key}`: `{claim.integration}` accepted the call and will "
            "report back when it is done",
        )


async def _retry_later(runtime: Runtime, claim: Claim, outcome: Outcome) -> None:
    now = runtime.clock.now()
    delay = RETRY_DELAYS[min(claim.attempt, len(RETRY_DELAYS) - 1)]
    if outcome.retry_after is not None:
        delay = max(delay, min(timedelta(seconds=outcome.retry_after), timedelta(hours=1)))
    next_try = now + delay
    async with begin(runtime) as work:
        result = await work.session.exec(
            update(Timer)
            .where(*_held(claim))
            .values(
                state=TimerState.PENDING,
                attempt=claim.attempt + 1,
                due_at=next_try,
                claimed_by=None,
            )
            .execution_options(synchronize_session=False)
        )
        run = await work.session.get(Run, claim.run_id)
        if result.rowcount != 1 or run is None:
            return
        work.audit(
            team_id=claim.team_id,
            run_id=claim.run_id,
            step_key=claim.step_key,
            actor_id=None,
            action="hook.retry",
            integration=claim.integration,
            attempt=claim.attempt + 1,
            reason=outcome.message,
        )
        tell_thread(
            work,
            run,
            f"`{claim.step_key}`: `{claim.integration}` {outcome.message}; trying again "
            f"{when(next_try)} (try {claim.attempt + 2} of {TRIES})",
        )


def register(sweeper: Sweeper) -> None:
    sweeper.on_tick("hook_calls", call_due_hooks)
