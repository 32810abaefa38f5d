"""The request bodies Slack sends to an app's Request URL, built from recorded state.

Pure functions: the driver (driver.py) signs and sends what these build. Shapes follow what
Slack sends today: commands as form fields, interactivity as a form field `payload` holding
JSON, events as a JSON `event_callback` envelope.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final

from bot.slack_emulator.blockkit import JSON, ElementRef, elements
from bot.slack_emulator.state import Conversation, Message, User, View, Workspace

# element type -> (key of its value in state.values and actions, key of its initial value)
_STATE_KEYS: Final[dict[str, tuple[str, str | None]]] = {
    "plain_text_input": ("value", "initial_value"),
    "number_input": ("value", "initial_value"),
    "email_text_input": ("value", "initial_value"),
    "url_text_input": ("value", "initial_value"),
    "rich_text_input": ("rich_text_value", "initial_value"),
    "static_select": ("selected_option", "initial_option"),
    "external_select": ("selected_option", "initial_option"),
    "radio_buttons": ("selected_option", "initial_option"),
    "overflow": ("selected_option", None),
    "multi_static_select": ("selected_options", "initial_options"),
    "multi_external_select": ("selected_options", "initial_options"),
    "checkboxes": ("selected_options", "initial_options"),
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
}


def user_ref(user: User, team_id: str) -> JSON:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": team_id}


def team_ref(ws: Workspace) -> JSON:
    return {"id": ws.team_id, "domain": ws.domain}


def command_form(
    *,
    ws: Workspace,
    user: User,
    conversation: Conversation,
    command: str,
    text: str,
    token: str,
    api_app_id: str,
    response_url: str,
    trigger_id: str,
) -> list[tuple[str, str]]:
    """A slash command's form fields, in Slack's order."""
    return [
        ("token", token),
        ("team_id", ws.team_id),
        ("team_domain", ws.domain),
        ("channel_id", conversation.id),
        ("channel_name", conversation.payload_name),
        ("user_id", user.id),
        ("user_name", user.name),
        ("command", command),
        ("text", text),
        ("api_app_id", api_app_id),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        ("trigger_id", trigger_id),
    ]


# --- element values ----------------------------------------------------------------------------


def _options(el: JSON) -> list[JSON]:
    found = list(el.get("options", []))
    for group in el.get("option_groups", []):
        found.extend(group.get("options", []))
    return found


def _option(el: JSON, value: Any) -> JSON:
    """The option whose value (or visible text) is `value`, as Slack echoes it back."""
    if isinstance(value, Mapping):
        return dict(value)
    for option in _options(el):
        if option.get("value") == value or option.get("text", {}).get("text") == value:
            return copy.deepcopy(option)
    if el.get("type", "").endswith("external_select"):
        return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
    known = [option.get("value") for option in _options(el)]
    raise ValueError(f"no option {value!r} in {el.get('action_id')!r}; options: {known}")


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]


def _rich_text(text: str) -> JSON:
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return {"type": "rich_text", "elements": [section]}


def element_value(el: JSON, value: Any) -> tuple[str, Any]:
    """(key, value) of an element's state for a value given as in a test: option values or
    texts for selects, user/channel ids, plain strings for text inputs."""
    kind = str(el.get("type"))
    if kind not in _STATE_KEYS:
        raise ValueError(f"element type {kind!r} holds no value")
    key = _STATE_KEYS[kind][0]
    if key == "selected_option":
        return key, None if value is None else _option(el, value)
    if key == "selected_options":
        return key, [_option(el, v) for v in _listed(value)]
    if key.endswith("s") and key.startswith("selected_"):
        return key, _listed(value)
    if key == "rich_text_value" and isinstance(value, str):
        return key, _rich_text(value)
    return key, value


def initial_state(el: JSON) -> JSON:
    """An untouched element's state, as Slack reports it (initial value or empty)."""
    kind = str(el.get("type"))
    key, initial_key = _STATE_KEYS[kind]
    empty: Any = [] if key.endswith("s") and key.startswith("selected_") else None
    value = copy.deepcopy(el.get(initial_key, empty)) if initial_key else empty
    if key == "rich_text_value" and isinstance(value, str):
        value = _rich_text(value)
    return {"type": kind, key: value}


def element_state(el: JSON, value: Any) -> JSON:
    key, state_value = element_value(el, value)
    return {"type": el.get("type"), key: state_value}


def view_state(view: View, values: Mapping[str, Any]) -> dict[str, dict[str, JSON]]:
    """view.state.values after the user filled `values` = {block_id: {action_id: value}}.

    A block with one element may be given as {block_id: value}. Every input block appears,
    untouched ones with their initial (or empty) value, as in Slack.
    """
    state = copy.deepcopy(view.state_values)
    for block in view.blocks:
        element = block.get("element")
        if block.get("type") == "input" and isinstance(element, dict):
            action_id = str(element.get("action_id", ""))
            state.setdefault(str(block["block_id"]), {}).setdefault(
                action_id, initial_state(element)
            )
    refs = list(elements(view.blocks))
    for block_id, given in values.items():
        in_block = [ref for ref in refs if ref.block_id == block_id]
        if not in_block:
            known = sorted({ref.block_id for ref in refs})
            raise KeyError(f"no block {block_id!r} with an element; blocks: {known}")
        if isinstance(given, Mapping):
            pairs = list(given.items())
        elif len(in_block) == 1:
            pairs = [(in_block[0].action_id, given)]
        else:
            raise ValueError(f"block {block_id!r} has several elements: name the action_id")
        for action_id, value in pairs:
            ref = next((r for r in in_block if r.action_id == action_id), None)
            if ref is None:
                raise KeyError(f"no action_id {action_id!r} in block {block_id!r}")
            state.setdefault(block_id, {})[action_id] = element_state(ref.element, value)
    return state


# --- interactivity -----------------------------------------------------------------------------


def action(ref: ElementRef, action_ts: str, value: Any = None) -> JSON:
    """One entry of block_actions' `actions`: a button press or a new selection."""
    el = ref.element
    body: JSON = {
        "action_id": ref.action_id,
        "block_id": ref.block_id,
        "type": ref.type,
        "action_ts": action_ts,
    }
    if ref.type == "button":
        body["text"] = copy.deepcopy(el.get("text"))
        for key in ("value", "style", "url"):
            if key in el:
                body[key] = el[key]
        return body
    key, state_value = element_value(el, value)
    body[key] = state_value
    if "placeholder" in el:
        body["placeholder"] = copy.deepcopy(el["placeholder"])
    return body


def block_actions(
    *,
    ws: Workspace,
    user: User,
    target: Message | View,
    actions: list[JSON],
    token: str,
    api_app_id: str,
    trigger_id: str,
    response_url: str | None,
) -> JSON:
    payload: JSON = {
        "type": "block_actions",
        "user": user_ref(user, ws.team_id),
        "api_app_id": api_app_id,
        "token": token,
        "container": {},
        "trigger_id": trigger_id,
        "team": team_ref(ws),
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if isinstance(target, View):
        payload["container"] = {"type": "view", "view_id": target.id}
        payload["view"] = target.to_payload()
    else:
        ephemeral = target.ephemeral_to is not None
        container: JSON = {
            "type": "message",
            "message_ts": target.ts,
            "channel_id": target.channel,
            "is_ephemeral": ephemeral,
        }
        if target.thread_ts:
            container["thread_ts"] = target.thread_ts
        payload["container"] = container
        conversation = ws.conversations[target.channel]
        payload["channel"] = {"id": conversation.id, "name": conversation.payload_name}
        if not ephemeral:  # Slack does not send ephemeral messages back
            payload["message"] = target.to_payload()
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url
    payload["actions"] = actions
    return payload


def view_submission(
    *,
    ws: Workspace,
    user: User,
    view: View,
    state: dict[str, dict[str, JSON]],
    token: str,
    api_app_id: str,
    trigger_id: str,
) -> JSON:
    body = view.to_payload()
    body["state"] = {"values": state}
    return {
        "type": "view_submission",
        "team": team_ref(ws),
        "user": user_ref(user, ws.team_id),
        "api_app_id": api_app_id,
        "token": token,
        "trigger_id": trigger_id,
        "view": body,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_closed(*, ws: Workspace, user: User, view: View, token: str, api_app_id: str) -> JSON:
    return {
        "type": "view_closed",
        "team": team_ref(ws),
        "user": user_ref(user, ws.team_id),
        "api_app_id": api_app_id,
        "token": token,
        "view": view.to_payload(),
        "is_cleared": False,
        "is_enterprise_install": False,
        "enterprise": None,
    }


# --- events ------------------------------------------------------------------------------------


def new_event_id() -> str:
    return "Ev" + secrets.token_hex(5).upper()


def event_callback(
    *,
    ws: Workspace,
    event: JSON,
    token: str,
    api_app_id: str,
    event_id: str,
    event_time: int,
) -> JSON:
    return {
        "token": token,
        "team_id": ws.team_id,
        "context_team_id": ws.team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_hex(16),
    }
