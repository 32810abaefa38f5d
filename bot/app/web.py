"""The ASGI app: Slack's Request URL, health and metrics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app.body_limit import BodyLimit
from bot.metrics import Metrics
from bot.notify.deliverer import observe_outbox
from bot.runtime import Runtime
from bot.slack.acks import ANSWERS, Answers
from bot.slack.signature import signed_by_slack
from handlers import shapes
from storage.migrate import current_revision

log = logging.getLogger("baton.web")


def slack_routes(
    bolt: AsyncApp, signing_secret: str, metrics: Metrics | None = None
) -> list[BaseRoute]:
    """Slack's Request URL, and OAuth's install page and redirect (Bolt answers 404 to these
    in single-workspace mode)."""
    handler = AsyncSlackRequestHandler(bolt)
    answers = Answers()

    async def events(request: Request) -> Response:
        refusal = await refuse(request)
        if refusal is not None:
            return refusal
        if metrics is None:
            return await answer(request)
        with metrics.ack_seconds.time():  # Slack gives up on an answer after 3 seconds
            return await answer(request)

    async def refuse(request: Request) -> Response | None:
        """401 for a request Slack did not sign, 400 for a signed one Slack would not send:
        one log line each, and nothing reaches Bolt (which would answer them 500)."""
        body = await request.body()
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signed = request.headers.get("x-slack-signature", "")
        if not signed_by_slack(signing_secret, body, timestamp, signed):
            log.warning("refused a request to /slack/events: not signed by Slack")
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            shapes.parse(body, request.headers.get("content-type"))
        except shapes.Malformed as exc:
            log.warning("refused a signed request to /slack/events: %s", exc)
            return JSONResponse({"error": f"malformed request: {exc}"}, status_code=400)
        return None

    async def oauth(request: Request) -> Response:
        return await handler.handle(request)

    async def answer(request: Request) -> Response:
        if bolt.process_before_response:  # the answer waits for the listener: nothing to wait for
            return await handler.handle(request)
        with answers.answering():  # listeners' work waits until the answers are out
            return await handler.handle(request, {ANSWERS: answers})

    return [
        Route("/slack/events", events, methods=["POST"]),
        Route("/slack/install", oauth, methods=["GET"]),
        Route("/slack/oauth_redirect", oauth, methods=["GET"]),
    ]


def ops_routes(runtime: Runtime) -> list[BaseRoute]:
    async def healthz(_: Request) -> Response:
        try:
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            revision = await current_revision(runtime.engine)
        except Exception as exc:  # any database failure is "unhealthy", with its reason
            return JSONResponse(
                {"status": "unhealthy", "database": f"error: {type(exc).__name__}: {exc}"},
                status_code=503,
            )
        return JSONResponse(
            {
                "status": "ok",
                "worker": runtime.worker_id,
                "database": "ok",
                "dialect": runtime.engine.dialect.name,
                "schema_revision": revision,
            }
        )

    async def metrics(_: Request) -> Response:
        with contextlib.suppress(Exception):  # a scrape shows the rest when the database is away
            await observe_outbox(runtime)
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    return [Route("/healthz", healthz), Route("/metrics", metrics)]


Lifecycle = Callable[[], Awaitable[None]]


def build_web(routes: list[BaseRoute], *, on_start: Lifecycle, on_stop: Lifecycle) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        await on_start()
        try:
            yield
        finally:
            await on_stop()

    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(BodyLimit)])
