"""The callback endpoint, POST /hooks/callback/{token}: an integration that accepted a call
reports its step done or failed (SPEC section 7), and the OpenAPI document describing it.

Checks run cheapest and least revealing first: an unknown token is 404 before anything else, so
a caller without the integration's secret learns nothing; then the signature (401), the body
(400), and the step's state (409: a finished step changes nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.core.states import FINISHED_STATES
from bot.integrations import outcomes
from bot.integrations.answers import Malformed, parse_report
from bot.integrations.calls import TIMER_KIND
from bot.integrations.openapi import CALLBACK_OPENAPI
from bot.integrations.secrets import SecretUnavailable, unseal
from bot.integrations.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    BadSignature,
    token_matches,
    token_timer,
    verify,
)
from bot.runtime import Runtime
from storage.db import unit_of_work
from storage.models import Integration, Run, StepRun, Timer
from storage.vocabulary import RunState, StepState

MAX_BODY = 65_536
UNKNOWN = "There is no such callback. Use the callback_url of the call exactly as Baton sent it."


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    status: int
    body: dict[str, Any]


def _error(status: int, message: str) -> CallbackAnswer:
    return CallbackAnswer(status, {"error": message})


@dataclass(frozen=True, slots=True)
class _Target:
    step: StepRun
    run: Run
    integration: Integration
    superseded: bool


async def _find(runtime: Runtime, timer_id: int) -> _Target | None:
    async with unit_of_work(runtime.sessions) as session:
        timer = await session.get(Timer, timer_id)
        if timer is None or timer.kind != TIMER_KIND or timer.step_run_id is None:
            return None
        step = await session.get(StepRun, timer.step_run_id)
        run = await session.get(Run, step.run_id) if step else None
        if step is None or run is None:
            return None
        integration = (
            await session.exec(
                select(Integration).where(
                    Integration.team_id == run.team_id, Integration.name == step.hook
                )
            )
        ).first()
        if integration is None:
            return None
        # A Retry made the step ready again with a new call; this URL belonged to the old one.
        latest = (
            await session.exec(
                select(func.max(Timer.id)).where(
                    col(Timer.step_run_id) == step.id, col(Timer.kind) == TIMER_KIND
                )
            )
        ).one()
    return _Target(step, run, integration, superseded=latest != timer_id)


async def receive_callback(
    runtime: Runtime, token: str, *, timestamp: str | None, signed: str | None, body: bytes
) -> CallbackAnswer:
    timer_id = token_timer(token)
    target = await _find(runtime, timer_id) if timer_id is not None else None
    if target is None:
        return _error(404, UNKNOWN)
    try:
        secret = unseal(target.integration.secret, runtime.settings.BATON_SECRET_KEY)
    except SecretUnavailable:
        return _error(503, "Baton cannot read this integration's secret right now.")
    if not token_matches(token, secret):
        return _error(404, UNKNOWN)
    try:
        verify(secret, timestamp=timestamp, signed=signed, body=body, now=runtime.wall.now())
    except BadSignature as exc:
        return _error(401, f"Bad signature: {exc}.")
    try:
        report = parse_report(body)
    except Malformed as exc:
        return _error(400, f"Malformed callback: {exc}.")
    step, run = target.step, target.run
    if step.state in FINISHED_STATES or run.state != RunState.ACTIVE:
        return _error(
            409, f"Step {step.step_key} of {run.key} is already {step.state}; nothing was changed."
        )
    if target.superseded:
        return _error(
            409,
            f"Step {step.step_key} of {run.key} was retried since this call; nothing was changed.",
        )
    name = f"`{target.integration.name}`"
    if report.done:
        applied = await outcomes.complete(
            runtime, run.team_id, run.key, step.step_key, report.output
        )
    else:
        said = f": {report.message}" if report.message else ""
        applied = await outcomes.fail(
            runtime, run.team_id, run.key, step.step_key, f"{name} reported failure{said}"
        )
    if not applied:
        return _error(
            409, f"Step {step.step_key} of {run.key} finished meanwhile; nothing was changed."
        )
    state = StepState.DONE if report.done else StepState.FAILED
    return CallbackAnswer(200, {"run": run.key, "step": step.step_key, "state": state})


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it grows past MAX_BODY (read no further than that)."""
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_BODY:
            return None
    return bytes(received)


def hook_routes(runtime: Runtime) -> list[BaseRoute]:
    async def callback(request: Request) -> Response:
        body = await _read_body(request)
        if body is None:
            return JSONResponse({"error": "The body is larger than 64 KiB."}, status_code=413)
        answer = await receive_callback(
            runtime,
            str(request.path_params["token"]),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signed=request.headers.get(SIGNATURE_HEADER),
            body=body,
        )
        return JSONResponse(answer.body, status_code=answer.status)

    async def openapi(_: Request) -> Response:
        return JSONResponse(CALLBACK_OPENAPI)

    callback_route = Route("/hooks/callback/{token:path}", callback, methods=["POST"])
    # Any token, even one with a line break, reaches the endpoint and gets its JSON 404.
    callback_route.path_regex = re.compile(r"^/hooks/callback/(?P<token>.*)$", re.DOTALL)
    return [callback_route, Route("/hooks/openapi.json", openapi, methods=["GET"])]
