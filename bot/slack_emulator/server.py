"""SlackEmulator: a fake Slack Web API on a loopback port, recording everything the bot does.

It runs as a task in the caller's event loop (see loopback.py), so a test (or `baton console`)
holds the emulator, the bot and the driver in one process and one loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self, TypeVar
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.slack_emulator import api, directory
from bot.slack_emulator.blockkit import JSON, fill_ids
from bot.slack_emulator.faults import Delay, Fault, Faults, Hold
from bot.slack_emulator.loopback import LoopbackServer
from bot.slack_emulator.state import (
    Call,
    Change,
    Channel,
    Message,
    MessageSource,
    User,
    Usergroup,
    View,
    Workspace,
)

_T = TypeVar("_T")

# Params that carry JSON: recorded decoded so tests read blocks as lists of dicts.
_JSON_PARAMS: Final = ("blocks", "attachments", "view", "metadata")
# Slack allows five uses of a response_url (within 30 minutes).
RESPONSE_URL_USES: Final = 5
_SCOPES: Final = ",".join(
    (
        "chat:write",
        "commands",
        "im:write",
        "users:read",
        "usergroups:read",
        "channels:read",
        "channels:join",
        "groups:read",
    )
)


@dataclass
class ResponseUrl:
    team_id: str
    channel: str
    user_id: str
    # Set when the URL came from a message button: replace/delete_original act on it.
    message_ts: str | None = None
    ephemeral: bool = False
    uses: int = 0


@dataclass(frozen=True)
class PacingViolation:
    team_id: str
    channel: str
    gap: float


class SlackEmulator:
    """The Slack Web API, response URLs and a recorded workspace state, on 127.0.0.1."""

    def __init__(
        self,
        *,
        team_id: str = "T0BATON",
        domain: str = "baton",
        team_name: str = "Baton",
        bot_user_id: str = "UBATON",
        bot_token: str = "xoxb-emulator",
        app_id: str = "A0BATON",
        users: Iterable[User] = (),
        usergroups: Iterable[Usergroup] = (),
        channels: Iterable[Channel] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        clock: api.Clock = time.time,
        trigger_ttl: float | None = 3.0,
    ) -> None:
        self.clock = clock
        self.app_id = app_id
        self.default_team_id = team_id
        self.calls: list[Call] = []
        self.faults = Faults()
        self._ids = api.Ids(clock)
        self._triggers = api.Triggers(self._ids, trigger_ttl)
        self._workspaces: dict[str, Workspace] = {}
        self._by_token: dict[str, Workspace] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self._oauth_codes: dict[str, tuple[str, str]] = {}
        self._post_times: dict[tuple[str, str], list[float]] = {}
        self._min_post_interval: float | None = None
        self._waiters: set[asyncio.Event] = set()
        self._listeners: list[Callable[[Change], None]] = []
        self.app = Starlette(
            routes=[
                Route("/api/{method:path}", self._handle_api, methods=["GET", "POST"]),
                Route("/respond/{token}", self._handle_respond, methods=["POST"]),
            ]
        )
        self._http = LoopbackServer(self.app, host=host, port=port)
        self.add_workspace(
            team_id,
            bot_token,
            domain=domain,
            name=team_name,
            bot_user_id=bot_user_id,
            users=users,
            usergroups=usergroups,
            channels=channels,
        )

    @classmethod
    def default(
        cls,
        *,
        port: int = 0,
        clock: api.Clock = time.time,
        trigger_ttl: float | None = 3.0,
    ) -> SlackEmulator:
        """Team T0BATON with alice, bob, carol, dave, @it-team and #general/#onboarding/#ops."""
        return cls(
            users=directory.USERS,
            usergroups=directory.USERGROUPS,
            channels=directory.CHANNELS,
            port=port,
            clock=clock,
            trigger_ttl=trigger_ttl,
        )

    def add_workspace(
        self,
        team_id: str,
        token: str,
        *,
        domain: str | None = None,
        name: str | None = None,
        bot_user_id: str = "UBATON",
        users: Iterable[User] = (),
        usergroups: Iterable[Usergroup] = (),
        channels: Iterable[Channel] = (),
    ) -> Workspace:
        """Installs the app in another team; its token only ever reaches that team's data."""
        workspace = Workspace(
            team_id=team_id,
            domain=domain or team_id.lower(),
            name=name or team_id,
            bot_token=token,
            bot_user_id=bot_user_id,
            bot_id="B" + team_id.removeprefix("T"),
            app_id=self.app_id,
            users=users,
            usergroups=usergroups,
            channels=channels,
        )
        workspace.on_change = self._on_change
        self._workspaces[team_id] = workspace
        self._by_token[token] = workspace
        return workspace

    def issue_oauth_code(self, team_id: str, user: str) -> str:
        """The `code` Slack appends to the redirect URL once `user` approved installing the app
        in `team_id`; oauth.v2.access exchanges it (once) for the team's bot token."""
        ws = self.workspace(team_id)
        code = self._ids.secret()
        self._oauth_codes[code] = (ws.team_id, self._user_id(ws, user))
        return code

    def add_token(self, team_id: str, token: str) -> None:
        """Another valid token for a team (e.g. after a token rotation)."""
        self._by_token[token] = self.workspace(team_id)

    def workspace(self, team_id: str | None = None) -> Workspace:
        return self._workspaces[team_id or self.default_team_id]

    # -- lifecycle --

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def api_url(self) -> str:
        """The base_url for AsyncWebClient (slack_sdk appends the method name)."""
        return f"{self.url}/api/"

    async def start(self) -> None:
        await self._http.start()

    async def stop(self) -> None:
        await self._http.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- fault injection --

    def fail(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: float = 1,
        times: int | None = 1,
        match: dict[str, str] | None = None,
        carried_out: bool = False,
    ) -> Fault:
        """Fail the next `times` calls of `method` ("*" for any, "response_url" too).

        status=429 answers `ratelimited` with Retry-After; 5xx answers `internal_error`;
        `error` alone answers HTTP 200 with ok=false, like Slack's own errors.
        `carried_out` does the call all the same (a 5xx whose message was posted).
        """
        if status is None and error is None:
            raise ValueError("give a status, an error, or both")
        status = status or 200
        if error is None:
            error = "ratelimited" if status == 429 else "internal_error"
        fault = Fault(
            method,
            status,
            error,
            retry_after=retry_after if status == 429 else None,
            times=times,
            match=dict(match or {}),
            carried_out=carried_out,
        )
        self.faults.add(fault)
        return fault

    def delay(self, method: str, seconds: float, *, times: int | None = None) -> None:
        """Answer `method` only after `seconds` (the call is still carried out, as in Slack)."""
        self.faults.add_delay(Delay(method, seconds, times))

    def hold(self, method: str, *, match: dict[str, str] | None = None) -> Hold:
        """Keep calls of `method` (matching `match`) waiting until the hold is released; each
        is then carried out and answered, as a slow Slack would. `wait_for` sees them arrive
        (`hold.waiting`)."""
        hold = Hold(method, dict(match or {}))
        self.faults.holds.append(hold)
        return hold

    def enforce_pacing(self, min_interval: float | None = 1.0) -> None:
        """Answer 429 to a chat.postMessage that follows another in its channel too closely."""
        self._min_post_interval = min_interval

    # -- recorded calls --

    def calls_to(self, method: str, *, team_id: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method and (team_id is None or c.team_id == team_id)
        ]

    def post_times(self, channel: str, *, team_id: str | None = None) -> list[float]:
        """Monotonic times of the successful chat.postMessage calls into one channel."""
        conversation = self.workspace(team_id).conversation(channel)
        key = (team_id or self.default_team_id, conversation.id if conversation else channel)
        return list(self._post_times.get(key, []))

    def pacing_violations(self, min_interval: float = 1.0) -> list[PacingViolation]:
        """Consecutive posts into one channel closer together than `min_interval` seconds."""
        return [
            PacingViolation(team_id, channel, later - earlier)
            for (team_id, channel), times in self._post_times.items()
            for earlier, later in itertools.pairwise(times)
            if later - earlier < min_interval
        ]

    # -- recorded state --

    def messages(
        self, channel: str, *, replies: bool = False, team_id: str | None = None
    ) -> list[Message]:
        """Top-level messages of a channel or DM ("C…", "#name", "D…" or a user) in order."""
        return self.workspace(team_id).messages(channel, replies=replies)

    def dm(self, user: str, *, team_id: str | None = None) -> list[Message]:
        """The bot's messages in its DM with `user` (id or name)."""
        ws = self.workspace(team_id)
        found = ws.user(user)
        if found is None:
            raise KeyError(f"no user {user!r} in {ws.team_id}")
        return ws.messages(ws.open_dm(found.id).id)

    def message(self, channel: str, ts: str, *, team_id: str | None = None) -> Message | None:
        return self.workspace(team_id).find_message(channel, ts)

    def thread(self, channel: str, ts: str, *, team_id: str | None = None) -> list[Message]:
        """The replies under the message `ts` (the parent itself not included)."""
        parent = self.message(channel, ts, team_id=team_id)
        return [m for m in parent.replies if not m.deleted] if parent else []

    def ephemerals(
        self, user: str, channel: str | None = None, *, team_id: str | None = None
    ) -> list[Message]:
        ws = self.workspace(team_id)
        found = ws.user(user)
        return ws.ephemerals(found.id if found else user, channel)

    def home(self, user: str, *, team_id: str | None = None) -> View | None:
        ws = self.workspace(team_id)
        found = ws.user(user)
        return ws.homes.get(found.id if found else user)

    def open_view(self, user: str, *, team_id: str | None = None) -> View | None:
        """The modal on top of the user's stack, if any is open."""
        ws = self.workspace(team_id)
        found = ws.user(user)
        return ws.top_modal(found.id if found else user)

    def modals(self, user: str, *, team_id: str | None = None) -> list[View]:
        ws = self.workspace(team_id)
        found = ws.user(user)
        return list(ws.modal_stacks.get(found.id if found else user, []))

    def changes(self, *, team_id: str | None = None) -> list[Change]:
        return list(self.workspace(team_id).changes)

    def subscribe(self, listener: Callable[[Change], None]) -> None:
        """Call `listener` on every visible change (new message, edit, view...), in order."""
        self._listeners.append(listener)

    # A `timeout` argument (not asyncio.timeout around the call) keeps test lines short.
    async def wait_for(
        self,
        predicate: Callable[[], _T | None],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> _T:
        """Wait until `predicate()` is truthy, re-checking after every call and change."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    result = predicate()
                    if result:
                        return result
                    event = asyncio.Event()
                    self._waiters.add(event)
                    try:
                        await event.wait()
                    finally:
                        self._waiters.discard(event)
        except TimeoutError:
            recent = ", ".join(f"{c.method}:{c.error or 'ok'}" for c in self.calls[-8:])
            raise TimeoutError(
                f"condition not met within {timeout}s; last calls: [{recent}]"
            ) from None

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda call: True,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        after: int = 0,
    ) -> Call:
        """The first call of `method` (from index `after` of `calls`) matching `predicate`."""

        def found() -> Call | None:
            return next(
                (c for c in self.calls[after:] if c.method == method and predicate(c)), None
            )

        return await self.wait_for(found, timeout)

    # -- what the driver needs --

    def issue_trigger(self, user: str, *, team_id: str | None = None) -> str:
        ws = self.workspace(team_id)
        return self._triggers.issue(ws.team_id, self._user_id(ws, user))

    def new_response_url(
        self,
        channel: str,
        user: str,
        *,
        team_id: str | None = None,
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        ws = self.workspace(team_id)
        conversation = ws.conversation(channel)
        if conversation is None:
            raise KeyError(f"no channel {channel!r} in {ws.team_id}")
        token = self._ids.secret()
        self._response_urls[token] = ResponseUrl(
            ws.team_id, conversation.id, self._user_id(ws, user), message_ts, ephemeral
        )
        return f"{self.url}/respond/{token}"

    def deliver_ack(self, response_url: str, body: JSON | str) -> None:
        """Shows a slash command's immediate answer, which Slack treats like a response_url post.

        Raises api.ApiError when Slack would refuse it (e.g. too many blocks).
        """
        entry = self._response_urls[response_url.rsplit("/", 1)[-1]]
        payload = {"text": body} if isinstance(body, str) else body
        self._apply_response(entry, payload, via="ack")

    def user_says(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        team_id: str | None = None,
    ) -> Message:
        """Records a message typed by a person (the driver then sends its `message` event)."""
        ws = self.workspace(team_id)
        author = self._user_id(ws, user)
        conversation = ws.conversation(channel)
        if conversation is None:
            raise KeyError(f"no channel {channel!r}")
        message = Message(
            team_id=ws.team_id,
            channel=conversation.id,
            ts=self._ids.ts(),
            text=text,
            blocks=[],
            user=author,
            thread_ts=thread_ts,
            via="user",
        )
        ws.add_message(conversation, message)
        return message

    def apply_view_response(self, view: View, body: JSON | None) -> None:
        """What Slack does with the answer to a view_submission (empty body: close the view)."""
        ws = self.workspace(view.team_id)
        action = body.get("response_action") if body else None
        if body is None or action is None:
            ws.close_modal(view.user_id, view.id)
        elif action == "errors":
            errors = body.get("errors")
            view.errors = (
                {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}
            )
            ws.changed("view_update", view)
        elif action == "update":
            view.replace_spec(api.view_spec(body, kind="modal"), self._ids.view_hash())
            ws.changed("view_update", view)
        elif action == "push":
            stack = ws.modal_stacks.setdefault(view.user_id, [])
            pushed = api.new_view(
                self._context(ws), view.user_id, api.view_spec(body, kind="modal")
            )
            pushed.previous_view_id = view.id
            pushed.root_view_id = stack[0].id if stack else view.id
            stack.append(pushed)
            ws.changed("view_open", pushed)
        elif action == "clear":
            ws.close_modal(view.user_id)
        else:
            raise ValueError(f"Slack rejects response_action {action!r}")

    # -- HTTP --

    def _context(self, ws: Workspace) -> api.ApiContext:
        return api.ApiContext(ws, self._ids, self._triggers, self.clock)

    @staticmethod
    def _user_id(ws: Workspace, user: str) -> str:
        found = ws.user(user)
        if found is None:
            raise KeyError(f"no user {user!r} in {ws.team_id}")
        return found.id

    async def _handle_api(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        params, token, malformed = await _read_params(request)
        delay = self.faults.take_delay(method)
        if delay:
            await asyncio.sleep(delay)
        hold = self.faults.hold_for(method, params)
        if hold is not None:
            hold.waiting += 1
            self._wake()
            await hold.gate.wait()
            hold.waiting -= 1
        workspace = self._by_token.get(token or "")
        status, body, headers = self._answer(method, params, token, workspace, malformed)
        self._record(method, params, workspace, status, body)
        return JSONResponse(body, status_code=status, headers=headers)

    def _answer(
        self,
        method: str,
        params: JSON,
        token: str | None,
        workspace: Workspace | None,
        malformed: bool,
    ) -> tuple[int, JSON, dict[str, str]]:
        if method == "oauth.v2.access":  # authenticated by the app's client id, not a token
            return 200, self._oauth_access(params), {}
        handler = api.METHODS.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        if malformed:
            return 200, {"ok": False, "error": "invalid_json"}, {}
        if token is None:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if workspace is None:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        fault = self.faults.take(method, params)
        if fault is not None and not fault.carried_out:
            return fault.answer()
        if method == "chat.postMessage" and self._too_soon(workspace, params):
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
        try:
            body = handler(self._context(workspace), params)
        except api.ApiError as error:
            body = error.body()
        if method == "chat.postMessage" and body.get("ok"):
            key = (workspace.team_id, str(body["channel"]))
            self._post_times.setdefault(key, []).append(time.monotonic())
        if fault is not None:
            return fault.answer()
        headers = {"X-OAuth-Scopes": _SCOPES} if method == "auth.test" else {}
        return 200, body, headers

    def _oauth_access(self, params: JSON) -> JSON:
        entry = self._oauth_codes.pop(str(params.get("code", "")), None)
        if entry is None:
            return {"ok": False, "error": "invalid_code"}
        team_id, user_id = entry
        ws = self.workspace(team_id)
        return {
            "ok": True,
            "access_token": ws.bot_token,
            "token_type": "bot",
            "scope": _SCOPES,
            "bot_user_id": ws.bot_user_id,
            "app_id": self.app_id,
            "team": {"id": ws.team_id, "name": ws.name},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": user_id},
        }

    def _too_soon(self, workspace: Workspace, params: JSON) -> bool:
        if self._min_post_interval is None:
            return False
        conversation = workspace.conversation(str(params.get("channel", "")))
        if conversation is None:
            return False
        times = self._post_times.get((workspace.team_id, conversation.id))
        return times is not None and time.monotonic() - times[-1] < self._min_post_interval

    async def _handle_respond(self, request: Request) -> JSONResponse:
        token = request.path_params["token"]
        delay = self.faults.take_delay("response_url")
        if delay:
            await asyncio.sleep(delay)
        try:
            payload = json.loads(await request.body())
        except ValueError:
            payload = None
        entry = self._response_urls.get(token)
        status = 200
        body: JSON = {"ok": True}
        headers: dict[str, str] = {}
        if not isinstance(payload, dict):
            payload = {}
            status, body = 400, {"ok": False, "error": "invalid_payload"}
        elif entry is None:
            status, body = 404, {"ok": False, "error": "expired_url"}
        elif (fault := self.faults.take("response_url", payload)) is not None:
            status, body, headers = fault.answer()
        elif entry.uses >= RESPONSE_URL_USES:
            status, body = 404, {"ok": False, "error": "used_url"}
        else:
            entry.uses += 1
            try:
                self._apply_response(entry, payload, via="response_url")
            except api.ApiError as error:
                status, body = 400, error.body()
        workspace = self._workspaces.get(entry.team_id) if entry else None
        params = {**_decoded(payload), "response_url": str(request.url)}
        self._record("response_url", params, workspace, status, body)
        return JSONResponse(body, status_code=status, headers=headers)

    def _apply_response(self, entry: ResponseUrl, payload: JSON, *, via: MessageSource) -> None:
        ws = self._workspaces[entry.team_id]
        conversation = ws.conversations[entry.channel]
        original: Message | None = None
        if entry.message_ts is not None:
            pool = conversation.ephemerals if entry.ephemeral else conversation.messages
            original = next((m for m in pool if m.ts == entry.message_ts), None)
        if api.flag(payload, "delete_original"):
            if original is not None and not original.deleted:
                original.deleted = True
                ws.changed("delete", original)
            return
        text, blocks, attachments = api.content(payload)
        if api.flag(payload, "replace_original") and original is not None:
            original.replace_content(text, fill_ids(blocks, original.ts), self.clock())
            original.attachments = attachments
            ws.changed("update", original)
            return
        in_channel = payload.get("response_type") == "in_channel"
        api.new_message(
            self._context(ws),
            conversation,
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=api.param(payload, "thread_ts"),
            ephemeral_to=None if in_channel else entry.user_id,
            via=via,
        )

    def _record(
        self, method: str, params: JSON, ws: Workspace | None, status: int, body: JSON
    ) -> None:
        team_id = ws.team_id if ws else None
        call = Call(method, params, team_id, status, body, time.monotonic(), self.clock())
        self.calls.append(call)
        self._wake()

    def _on_change(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)
        self._wake()

    def _wake(self) -> None:
        for event in self._waiters:
            event.set()


def _decoded(params: JSON) -> JSON:
    return {k: api.decode(v) if k in _JSON_PARAMS else v for k, v in params.items()}


async def _read_params(request: Request) -> tuple[JSON, str | None, bool]:
    """Query string, then a JSON or form body, as slack_sdk sends them; token from either place."""
    params: JSON = dict(request.query_params)
    raw = await request.body()
    malformed = False
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if raw and content_type == "application/json":
        try:
            data = json.loads(raw)
        except ValueError:
            data, malformed = None, True
        if isinstance(data, dict):
            params.update(data)
    elif raw:
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    header = request.headers.get("authorization", "")
    form_token = params.pop("token", None)
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or (str(form_token) if form_token else None)
    return _decoded(params), token, malformed
