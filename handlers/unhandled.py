"""Requests no listener wants (an old button's action, `view_closed`, an event type Baton does
not subscribe to, Slack's `app_rate_limited`): answered 200, since Slack counts every other
answer against the app, and logged in one line."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse

from bot.app.observe import request_kind

log = logging.getLogger("baton.handlers")


async def answer_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
    if isinstance(error, BoltUnhandledRequestError):
        log.info("no listener for a %s request; answered 200", _describe(body))
        return BoltResponse(status=200, body="")
    # Anything else is Baton's fault: keep Bolt's default (a logged traceback).
    log.error("unhandled error while answering Slack", exc_info=error)
    return None


def _describe(body: dict[str, Any]) -> str:
    kind = request_kind(body)
    actions = body.get("actions") or []
    if kind == "block_actions" and actions:
        return f"{kind} ({str(actions[0].get('action_id'))[:64]!r})"
    view = body.get("view") or {}
    if kind in ("view_submission", "view_closed") and view:
        return f"{kind} ({str(view.get('callback_id'))[:64]!r})"
    return repr(kind[:80])


def register(app: AsyncApp) -> None:
    app.error(answer_error)
