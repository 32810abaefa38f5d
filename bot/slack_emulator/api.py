"""The Web API methods the emulator answers, as pure functions of (workspace, params).

No HTTP here: server.py parses requests, authenticates, injects faults and records calls;
each method below only reads its parameters, changes the workspace and builds Slack's answer.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.slack_emulator.blockkit import (
    JSON,
    MAX_MESSAGE_TEXT,
    check_blocks,
    check_view,
    fill_ids,
)
from bot.slack_emulator.state import (
    Conversation,
    Message,
    MessageSource,
    View,
    Workspace,
    dm_id,
)

Clock = Callable[[], float]


class ApiError(Exception):
    """A Slack error answer: HTTP 200, `ok: false`, `error` and any extra fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> JSON:
        return {"ok": False, "error": self.error, **self.extra}


def invalid(error: str, problems: list[str]) -> ApiError:
    """Block Kit violations, listed the way Slack lists them."""
    messages = [f"[ERROR] {problem}" for problem in problems]
    return ApiError(error, errors=problems, response_metadata={"messages": messages})


class Ids:
    """Ids unique across workspaces; ts follow the clock but never repeat or go back."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last_micros = 0
        self._counter = itertools.count(1)

    def ts(self) -> str:
        micros = max(int(self._clock() * 1_000_000), self._last_micros + 1)
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def view_id(self) -> str:
        return f"V{next(self._counter):010X}"

    def view_hash(self) -> str:
        return f"{int(self._clock())}.{next(self._counter):08x}"

    def trigger_id(self) -> str:
        return f"{int(self._clock())}.{next(self._counter)}.{secrets.token_hex(16)}"

    def secret(self) -> str:
        return secrets.token_hex(12)


@dataclass
class _Trigger:
    team_id: str
    user_id: str
    issued: float
    used: bool = False


class Triggers:
    """trigger_ids handed out with interactions: single use, and short-lived like Slack's."""

    def __init__(self, ids: Ids, ttl: float | None) -> None:
        self._ids = ids
        self._ttl = ttl
        self._issued: dict[str, _Trigger] = {}

    def issue(self, team_id: str, user_id: str) -> str:
        trigger_id = self._ids.trigger_id()
        self._issued[trigger_id] = _Trigger(team_id, user_id, time.monotonic())
        return trigger_id

    def take(self, trigger_id: str, team_id: str) -> str:
        """The user the trigger was issued to; Slack's error when it cannot be used."""
        trigger = self._issued.get(trigger_id)
        if trigger is None or trigger.team_id != team_id:
            raise ApiError("invalid_trigger_id")
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if self._ttl is not None and time.monotonic() - trigger.issued > self._ttl:
            raise ApiError("expired_trigger_id")
        trigger.used = True
        return trigger.user_id


@dataclass
class ApiContext:
    workspace: Workspace
    ids: Ids
    triggers: Triggers
    clock: Clock


Method = Callable[[ApiContext, JSON], JSON]


# --- parameters --------------------------------------------------------------------------------


def param(params: JSON, key: str) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def required(params: JSON, key: str, error: str = "invalid_arguments") -> str:
    value = param(params, key)
    if value is None:
        raise ApiError(error)
    return value


def flag(params: JSON, key: str) -> bool:
    value = params.get(key)
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def decode(value: Any) -> Any:
    """Form-encoded calls carry blocks/views as JSON strings, JSON calls as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def content(
    params: JSON, *, require: bool = True, old: Message | None = None
) -> tuple[str, list[JSON], list[JSON]]:
    """text, blocks and attachments of a message, checked as Slack checks them.

    With `old` (chat.update, replace_original), absent fields keep the old message's value.
    """
    text_value = params.get("text")
    text = text_value if isinstance(text_value, str) else (old.text if old else "")
    raw_blocks = decode(params.get("blocks"))
    if raw_blocks is None:
        blocks = list(old.blocks) if old else []
    elif isinstance(raw_blocks, list):
        problems = check_blocks(raw_blocks)
        if problems:
            raise invalid("invalid_blocks", problems)
        blocks = raw_blocks
    else:
        raise ApiError("invalid_blocks_format")
    raw_attachments = decode(params.get("attachments"))
    attachments = raw_attachments if isinstance(raw_attachments, list) else []
    if len(text) > MAX_MESSAGE_TEXT:
        raise ApiError("msg_too_long")
    if require and not text and not blocks and not attachments:
        raise ApiError("no_text")
    return text, blocks, attachments


def _conversation(ctx: ApiContext, params: JSON, key: str = "channel") -> Conversation:
    """The conversation named by `key`; a private channel the bot is not in does not exist
    for it, as in Slack."""
    ws = ctx.workspace
    conversation = ws.conversation(required(params, key, "channel_not_found"))
    hidden = conversation is not None and (
        conversation.is_private or conversation.kind in ("im", "mpim")
    )
    if conversation is None or (hidden and ws.bot_user_id not in conversation.members):
        raise ApiError("channel_not_found")
    return conversation


def _message(ctx: ApiContext, conversation: Conversation, ts: str) -> Message:
    message = conversation.find(ts)
    if message is None or message.deleted:
        raise ApiError("message_not_found")
    return message


def new_message(
    ctx: ApiContext,
    conversation: Conversation,
    *,
    text: str,
    blocks: list[JSON],
    attachments: list[JSON],
    thread_ts: str | None = None,
    ephemeral_to: str | None = None,
    via: MessageSource = "api",
) -> Message:
    """Records a bot message; replies to a reply join the root's thread, as in Slack."""
    ws = ctx.workspace
    if thread_ts is not None and ephemeral_to is None:
        parent = conversation.find(thread_ts)
        if parent is None:
            raise ApiError("thread_not_found")
        thread_ts = parent.thread_ts or parent.ts
    ts = ctx.ids.ts()
    message = Message(
        team_id=ws.team_id,
        channel=conversation.id,
        ts=ts,
        text=text,
        blocks=fill_ids(blocks, ts),
        user=ws.bot_user_id,
        bot_id=ws.bot_id,
        app_id=ws.app_id,
        thread_ts=thread_ts,
        ephemeral_to=ephemeral_to,
        attachments=copy.deepcopy(attachments),
        via=via,
    )
    ws.add_message(conversation, message)
    return message


# --- methods -----------------------------------------------------------------------------------


def auth_test(ctx: ApiContext, params: JSON) -> JSON:
    ws = ctx.workspace
    return {
        "ok": True,
        "url": f"https://{ws.domain}.slack.com/",
        "team": ws.name,
        "user": ws.users[ws.bot_user_id].name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def team_info(ctx: ApiContext, params: JSON) -> JSON:
    ws = ctx.workspace
    return {"ok": True, "team": {"id": ws.team_id, "name": ws.name, "domain": ws.domain}}


def chat_post_message(ctx: ApiContext, params: JSON) -> JSON:
    conversation = _conversation(ctx, params)
    if conversation.is_archived:
        raise ApiError("is_archived")
    text, blocks, attachments = content(params)
    message = new_message(
        ctx,
        conversation,
        text=text,
        blocks=blocks,
        attachments=attachments,
        thread_ts=param(params, "thread_ts"),
    )
    metadata = decode(params.get("metadata"))
    if isinstance(metadata, dict):
        message.metadata = metadata
    return {
        "ok": True,
        "channel": conversation.id,
        "ts": message.ts,
        "message": message.to_payload(),
    }


def chat_update(ctx: ApiContext, params: JSON) -> JSON:
    conversation = _conversation(ctx, params)
    message = _message(ctx, conversation, required(params, "ts", "message_not_found"))
    if message.user != ctx.workspace.bot_user_id:
        raise ApiError("cant_update_message")
    text, blocks, attachments = content(params, old=message)
    message.replace_content(text, fill_ids(blocks, message.ts), ctx.clock())
    if attachments:
        message.attachments = attachments
    ctx.workspace.changed("update", message)
    return {
        "ok": True,
        "channel": conversation.id,
        "ts": message.ts,
        "text": message.text,
        "message": message.to_payload(),
    }


def chat_delete(ctx: ApiContext, params: JSON) -> JSON:
    conversation = _conversation(ctx, params)
    message = _message(ctx, conversation, required(params, "ts", "message_not_found"))
    if message.user != ctx.workspace.bot_user_id:
        raise ApiError("cant_delete_message")
    message.deleted = True
    ctx.workspace.changed("delete", message)
    return {"ok": True, "channel": conversation.id, "ts": message.ts}


def chat_post_ephemeral(ctx: ApiContext, params: JSON) -> JSON:
    conversation = _conversation(ctx, params)
    user = ctx.workspace.users.get(required(params, "user", "user_not_found"))
    if user is None:
        raise ApiError("user_not_found")
    text, blocks, attachments = content(params)
    message = new_message(
        ctx,
        conversation,
        text=text,
        blocks=blocks,
        attachments=attachments,
        thread_ts=param(params, "thread_ts"),
        ephemeral_to=user.id,
    )
    return {"ok": True, "message_ts": message.ts}


def chat_get_permalink(ctx: ApiContext, params: JSON) -> JSON:
    conversation = _conversation(ctx, params)
    message = _message(ctx, conversation, required(params, "message_ts", "message_not_found"))
    path = f"archives/{conversation.id}/p{message.ts.replace('.', '')}"
    return {
        "ok": True,
        "channel": conversation.id,
        "permalink": f"https://{ctx.workspace.domain}.slack.com/{path}",
    }


def conversations_open(ctx: ApiContext, params: JSON) -> JSON:
    ws = ctx.workspace
    if param(params, "channel") is not None:
        conversation = _conversation(ctx, params)
        return {"ok": True, "channel": conversation.info()}
    refs = [ref.strip() for ref in required(params, "users", "users_list_not_supplied").split(",")]
    users = [ws.users.get(ref) for ref in refs if ref]
    if not users or any(user is None for user in users):
        raise ApiError("user_not_found")
    ids = sorted({user.id for user in users if user is not None})
    if len(ids) == 1:
        existed = dm_id(ids[0]) in ws.conversations
        conversation = ws.open_dm(ids[0])
    else:
        digest = hashlib.sha1(",".join(ids).encode()).hexdigest()[:9].upper()
        channel_id = f"G{digest}"
        existed = channel_id in ws.conversations
        names = "--".join(ws.users[user_id].name for user_id in ids)
        conversation = ws.conversations.setdefault(
            channel_id,
            Conversation(channel_id, "mpim", f"mpdm-{names}-1", (*ids, ws.bot_user_id)),
        )
    channel = conversation.info() if flag(params, "return_im") else {"id": conversation.id}
    return {"ok": True, "no_op": existed, "already_open": existed, "channel": channel}


def conversations_info(ctx: ApiContext, params: JSON) -> JSON:
    return {"ok": True, "channel": _conversation(ctx, params).info()}


def _limit(params: JSON, default: int = 100, most: int = 999) -> int:
    raw = param(params, "limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError("invalid_limit") from None
    if limit == 0:
        return default
    if not 1 <= limit <= most:
        raise ApiError("invalid_limit")
    return limit


def _user_cursor(user_id: str) -> str:
    """An opaque cursor naming the next member, shaped like Slack's ("user:U…" in base64)."""
    return base64.b64encode(f"user:{user_id}".encode()).decode()


def conversations_members(ctx: ApiContext, params: JSON) -> JSON:
    """Member ids a page at a time (`limit`, default 100); `response_metadata.next_cursor`
    is empty on the last page."""
    members = list(_conversation(ctx, params).members)
    limit = _limit(params)
    start = 0
    cursor = param(params, "cursor")
    if cursor is not None:
        try:
            kind, _, user_id = base64.b64decode(cursor, validate=True).decode().partition(":")
        except ValueError:
            raise ApiError("invalid_cursor") from None
        if kind != "user" or user_id not in members:
            raise ApiError("invalid_cursor")
        start = members.index(user_id)
    page = members[start : start + limit]
    more = start + limit < len(members)
    next_cursor = _user_cursor(members[start + limit]) if more else ""
    return {"ok": True, "members": page, "response_metadata": {"next_cursor": next_cursor}}


def _page(messages: list[Message], params: JSON) -> JSON:
    """A page of messages within oldest/latest (exclusive unless `inclusive`), as Slack pages."""
    inclusive = flag(params, "inclusive")
    oldest = float(param(params, "oldest") or 0)
    latest = float(param(params, "latest") or "inf")

    def within(message: Message) -> bool:
        ts = float(message.ts)
        if inclusive:
            return oldest <= ts <= latest
        return oldest < ts < latest

    found = [m for m in messages if not m.deleted and within(m)]
    start = int(param(params, "cursor") or 0)
    limit = int(param(params, "limit") or 100)
    page = found[start : start + limit]
    more = start + limit < len(found)
    with_metadata = flag(params, "include_all_metadata")
    payloads = []
    for message in page:
        payload = message.to_payload()
        if not with_metadata:
            payload.pop("metadata", None)
        payloads.append(payload)
    return {
        "ok": True,
        "messages": payloads,
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def _readable(ctx: ApiContext, params: JSON) -> Conversation:
    """A conversation whose messages the bot may read: Slack answers not_in_channel for a
    public channel it has not joined (posting there needs only chat:write.public)."""
    conversation = _conversation(ctx, params)
    if conversation.kind == "channel" and ctx.workspace.bot_user_id not in conversation.members:
        raise ApiError("not_in_channel")
    return conversation


def conversations_join(ctx: ApiContext, params: JSON) -> JSON:
    """The bot joins a public channel (channels:join); a DM or group DM cannot be joined."""
    conversation = _conversation(ctx, params)
    if conversation.kind != "channel" or conversation.is_private:
        raise ApiError("method_not_supported_for_channel_type")
    bot = ctx.workspace.bot_user_id
    joined = bot in conversation.members
    if not joined:
        conversation.members = (*conversation.members, bot)
    answer: JSON = {"ok": True, "channel": conversation.info()}
    if joined:
        answer["warning"] = "already_in_channel"
    return answer


def conversations_history(ctx: ApiContext, params: JSON) -> JSON:
    """Top-level messages, newest first."""
    conversation = _readable(ctx, params)
    top = [m for m in conversation.messages if not m.is_reply]
    return _page(list(reversed(top)), params)


def conversations_replies(ctx: ApiContext, params: JSON) -> JSON:
    """A thread: its parent, then the replies, oldest first."""
    conversation = _readable(ctx, params)
    parent = _message(ctx, conversation, required(params, "ts", "thread_not_found"))
    return _page([parent, *parent.replies], params)


def users_info(ctx: ApiContext, params: JSON) -> JSON:
    ws = ctx.workspace
    user = ws.users.get(required(params, "user", "user_not_found"))
    if user is None:
        raise ApiError("user_not_found")
    return {"ok": True, "user": user.info(ws.team_id, ctx.clock())}


def users_list(ctx: ApiContext, params: JSON) -> JSON:
    ws = ctx.workspace
    now = ctx.clock()
    return {
        "ok": True,
        "members": [user.info(ws.team_id, now) for user in ws.users.values()],
        "response_metadata": {"next_cursor": ""},
    }


def usergroups_list(ctx: ApiContext, params: JSON) -> JSON:
    ws = ctx.workspace
    include = flag(params, "include_users")
    groups = [g.info(ws.team_id, include_users=include) for g in ws.usergroups.values()]
    return {"ok": True, "usergroups": groups}


def usergroups_users_list(ctx: ApiContext, params: JSON) -> JSON:
    group = ctx.workspace.usergroups.get(required(params, "usergroup", "no_such_subteam"))
    if group is None:
        raise ApiError("no_such_subteam")
    return {"ok": True, "users": list(group.members)}


def view_spec(params: JSON, *, kind: str | None = None) -> JSON:
    spec = decode(params.get("view"))
    if not isinstance(spec, dict):
        raise ApiError("invalid_arguments")
    problems = check_view(spec)
    if kind is not None and spec.get("type") != kind:
        problems.append(f"must be {kind} [json-pointer:/view/type]")
    if problems:
        raise invalid("invalid_arguments", problems)
    spec = copy.deepcopy(spec)
    spec["blocks"] = fill_ids(spec.get("blocks", []), json.dumps(spec, sort_keys=True))
    return spec


def new_view(ctx: ApiContext, user_id: str, spec: JSON) -> View:
    ws = ctx.workspace
    view = View(
        id=ctx.ids.view_id(),
        team_id=ws.team_id,
        user_id=user_id,
        spec=spec,
        hash=ctx.ids.view_hash(),
        app_id=ws.app_id,
        bot_id=ws.bot_id,
    )
    ws.views[view.id] = view
    return view


def _check_hash(view: View, params: JSON) -> None:
    expected = param(params, "hash")
    if expected is not None and expected != view.hash:
        raise ApiError("hash_conflict")


def views_open(ctx: ApiContext, params: JSON) -> JSON:
    spec = view_spec(params, kind="modal")
    user_id = ctx.triggers.take(
        required(params, "trigger_id", "invalid_trigger_id"), ctx.workspace.team_id
    )
    ctx.workspace.close_modal(user_id)
    view = new_view(ctx, user_id, spec)
    ctx.workspace.modal_stacks[user_id] = [view]
    ctx.workspace.changed("view_open", view)
    return {"ok": True, "view": view.to_payload()}


def views_push(ctx: ApiContext, params: JSON) -> JSON:
    spec = view_spec(params, kind="modal")
    user_id = ctx.triggers.take(
        required(params, "trigger_id", "invalid_trigger_id"), ctx.workspace.team_id
    )
    stack = ctx.workspace.modal_stacks.get(user_id)
    if not stack:
        raise ApiError("not_found")
    if len(stack) >= 3:
        raise ApiError("push_limit_reached")
    view = new_view(ctx, user_id, spec)
    view.previous_view_id = stack[-1].id
    view.root_view_id = stack[0].id
    stack.append(view)
    ctx.workspace.changed("view_open", view)
    return {"ok": True, "view": view.to_payload()}


def views_update(ctx: ApiContext, params: JSON) -> JSON:
    ws = ctx.workspace
    view_id = param(params, "view_id")
    external_id = param(params, "external_id")
    if view_id is None and external_id is None:
        raise ApiError("invalid_arguments")
    view = ws.views.get(view_id) if view_id else ws.view_by_external_id(external_id or "")
    if view is None or view.closed:
        raise ApiError("not_found")
    _check_hash(view, params)
    view.replace_spec(view_spec(params, kind=view.type), ctx.ids.view_hash())
    ctx.workspace.changed("home" if view.type == "home" else "view_update", view)
    return {"ok": True, "view": view.to_payload()}


def views_publish(ctx: ApiContext, params: JSON) -> JSON:
    ws = ctx.workspace
    user = ws.users.get(required(params, "user_id", "invalid_arguments"))
    if user is None:
        raise ApiError("user_not_found")
    spec = view_spec(params, kind="home")
    view = ws.homes.get(user.id)
    if view is None:
        view = new_view(ctx, user.id, spec)
        ws.homes[user.id] = view
    else:
        _check_hash(view, params)
        view.replace_spec(spec, ctx.ids.view_hash())
    ws.changed("home", view)
    return {"ok": True, "view": view.to_payload()}


METHODS: dict[str, Method] = {
    "auth.test": auth_test,
    "team.info": team_info,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "conversations.open": conversations_open,
    "conversations.info": conversations_info,
    "conversations.members": conversations_members,
    "conversations.history": conversations_history,
    "conversations.join": conversations_join,
    "conversations.replies": conversations_replies,
    "users.info": users_info,
    "users.list": users_list,
    "usergroups.list": usergroups_list,
    "usergroups.users.list": usergroups_users_list,
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
}
