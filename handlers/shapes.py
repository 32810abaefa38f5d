"""Whether a request body has the shape Slack sends, before Bolt or a listener reads it.

Bolt and the listeners index into payloads assuming Slack's types (`actions` a list of
objects, `view` an object, ...); a signed but malformed body would otherwise end as an HTTP
500 with a traceback. This check parses the body the way Bolt does and names the first field
of the wrong type, so the request is answered 400 with one log line instead.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import parse_qsl

MAX_DEPTH: Final = 40  # Slack's deepest payloads (rich text in a view's state) stay far below
# Fields that are text (or null) wherever they appear.
TEXT_FIELDS: Final = frozenset(
    {
        "type",
        "id",
        "team_id",
        "enterprise_id",
        "user_id",
        "channel_id",
        "api_app_id",
        "action_id",
        "block_id",
        "callback_id",
        "private_metadata",
        "external_id",
        "trigger_id",
        "response_url",
        "event_id",
        "ts",
        "thread_ts",
        "message_ts",
        "action_ts",
        "event_ts",
        "command",
        "token",
        "hash",
        "view_id",
        "root_view_id",
        "previous_view_id",
        "app_installed_team_id",
        "user_team",
        "reaction",
        "tab",
        "challenge",
    }
)
OBJECT_FIELDS: Final = frozenset(
    {
        "view",
        "container",
        "item",
        "message",
        "previous_message",
        "event",
        "assistant_thread",
        "selected_option",
        "tokens",
    }
)
LIST_FIELDS: Final = frozenset({"actions", "authorizations", "selected_options"})
# A team or user is an id in events and an object in interactions; a legacy dialog's state is
# text, a view's an object.
TEXT_OR_OBJECT_FIELDS: Final = frozenset({"user", "channel", "team", "enterprise", "state"})
# What each kind of request cannot do without (beyond the field types above).
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "event_callback": ("event", "team_id"),
    "block_actions": ("actions", "user"),
    "view_submission": ("view", "user"),
    "view_closed": ("view", "user"),
    "block_suggestion": ("user",),
    "shortcut": ("callback_id", "user"),
    "message_action": ("callback_id", "user"),
}


# The events Baton listens to, and what their listeners read.
EVENT_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "app_home_opened": ("user",),
    "tokens_revoked": ("tokens",),
}


class Malformed(ValueError):
    """The body is not something Slack sends; the message names what is wrong."""


def parse(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The body as Bolt will read it (JSON, a form, or a form's `payload` JSON), checked."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8") from None
    if not text:
        raise Malformed("the body is empty")
    try:
        if content_type == "application/json" or text.startswith("{"):
            parsed: Any = json.loads(text)
        elif "payload" in text:
            payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
            parsed = json.loads(payload) if payload is not None else {}
        else:
            parsed = dict(parse_qsl(text, keep_blank_values=True))
    except (ValueError, RecursionError):
        raise Malformed("the body is not valid JSON or form data") from None
    if not isinstance(parsed, dict):
        raise Malformed("the body is not a JSON object")
    check(parsed)
    return parsed


def check(payload: dict[str, Any]) -> None:
    if "command" in payload:
        # A NUL typed into a command gets its usage from the command's handler.
        _check_fields(payload, "", 0, allow_nul=True)
        _require(payload, ("command", "team_id", "user_id", "channel_id"), "")
        return
    _check_fields(payload, "", 0, allow_nul=False)
    kind = payload.get("type")
    _require(payload, REQUIRED.get(str(kind), ()), "")
    if kind in ("block_actions", "view_submission", "view_closed"):
        user = payload["user"]
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            raise Malformed("`user.id` is missing")
    if kind == "block_actions" and not payload["actions"]:
        raise Malformed("`actions` is empty")
    if kind == "event_callback":
        event = payload["event"]
        _require(event, ("type",), "event.")
        _require(event, EVENT_REQUIRED.get(str(event["type"]), ()), "event.")
        if event["type"] == "app_home_opened" and not isinstance(event["user"], str):
            raise Malformed("`event.user` is not a user id")
        bots = event.get("tokens", {}).get("bot")
        if bots is not None and not isinstance(bots, list):
            raise Malformed("`event.tokens.bot` is not a list")


def _require(payload: dict[str, Any], fields: tuple[str, ...], where: str) -> None:
    for field in fields:
        if payload.get(field) in (None, ""):
            raise Malformed(f"`{where}{field}` is missing")


def _check_fields(value: Any, where: str, depth: int, *, allow_nul: bool) -> None:
    if depth > MAX_DEPTH:
        raise Malformed("the body is nested too deeply")
    if isinstance(value, str) and not allow_nul and "\x00" in value:
        raise Malformed(f"`{where}` contains a NUL character")
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_fields(item, f"{where}[{index}]", depth + 1, allow_nul=allow_nul)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        label = str(key) if len(str(key)) <= 40 and str(key).isprintable() else "…"
        name = f"{where}.{label}" if where else label
        if item is not None:
            if key in TEXT_FIELDS and not isinstance(item, str):
                raise Malformed(f"`{name}` is not text")
            if key in OBJECT_FIELDS and not isinstance(item, dict):
                raise Malformed(f"`{name}` is not an object")
            if key in TEXT_OR_OBJECT_FIELDS and not isinstance(item, str | dict):
                raise Malformed(f"`{name}` is neither text nor an object")
            if key in LIST_FIELDS and not (
                isinstance(item, list) and all(isinstance(entry, dict) for entry in item)
            ):
                raise Malformed(f"`{name}` is not a list of objects")
        _check_fields(item, name, depth + 1, allow_nul=allow_nul)
