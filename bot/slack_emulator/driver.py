"""SlackDriver: sends what Slack sends to Baton's Request URL, signed as Slack signs it.

It plays the people in the emulated workspace: they type slash commands, click buttons on
messages the bot posted (as recorded by the SlackEmulator), fill and submit modals, and cause
events. Whatever Slack itself would do with Baton's answer (show a command's reply, close or
update a modal) the driver applies to the emulator, so the recorded state stays what a user
would see.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.slack_emulator import payloads
from bot.slack_emulator.blockkit import JSON, ElementRef
from bot.slack_emulator.server import SlackEmulator
from bot.slack_emulator.state import Message, User, View, Workspace

FORM = "application/x-www-form-urlencoded"


def signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 request signature, computed by slack_sdk's SignatureVerifier (as
    bolt-python's own tests sign). The SDK reads bodies as UTF-8, which all Slack sends is;
    a body that is not (a test of Baton refusing one) gets the same HMAC over its raw bytes."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        base = b"v0:" + timestamp.encode() + b":" + body
        return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    signed = SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=body)
    assert signed is not None  # None only when the timestamp or body is missing
    return signed


class SlackDriver:
    def __init__(
        self,
        baton_url: str,
        signing_secret: str,
        emulator: SlackEmulator,
        *,
        team_id: str | None = None,
        api_app_id: str | None = None,
        verification_token: str = "emulator-verification-token",
        now: Callable[[], float] = time.time,
        break_signature: bool = False,
        path: str = "/slack/events",
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = baton_url.rstrip("/") + path
        self.signing_secret = signing_secret
        self.emulator = emulator
        self.team_id = team_id or emulator.default_team_id
        self.api_app_id = api_app_id or emulator.app_id
        self.token = verification_token
        # Both public and mutable, so a test can send a stale or forged request mid-way.
        self.now = now
        self.break_signature = break_signature
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None
        self.last_request: httpx.Request | None = None

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def workspace(self) -> Workspace:
        return self.emulator.workspace(self.team_id)

    # -- slash commands --

    async def command(
        self,
        text: str = "",
        *,
        user: str,
        channel: str | None = None,
        command: str = "/baton",
        apply_ack: bool = True,
    ) -> httpx.Response:
        """Types `/baton text` as `user` in `channel` (default: the user's DM with the bot).

        A non-empty acknowledgement is shown the way Slack shows it (ephemeral unless
        response_type is in_channel); Slack's refusal of it raises api.ApiError.
        """
        ws = self.workspace
        person = self._user(user)
        conversation = ws.conversation(channel or person.id)
        if conversation is None:
            raise KeyError(f"no channel {channel!r} in {ws.team_id}")
        response_url = self.emulator.new_response_url(
            conversation.id, person.id, team_id=ws.team_id
        )
        form = payloads.command_form(
            ws=ws,
            user=person,
            conversation=conversation,
            command=command,
            text=text,
            token=self.token,
            api_app_id=self.api_app_id,
            response_url=response_url,
            trigger_id=self.emulator.issue_trigger(person.id, team_id=ws.team_id),
        )
        response = await self._send(urlencode(form).encode(), FORM)
        if apply_ack:
            body = self.ack_body(response)
            if body:
                self.emulator.deliver_ack(response_url, body)
        return response

    # -- interactivity --

    async def click(
        self,
        target: Message | View,
        *,
        user: str | None = None,
        action_id: str | None = None,
        text: str | None = None,
        index: int | None = None,
        block_id: str | None = None,
    ) -> httpx.Response:
        """Clicks a button on a recorded message/ephemeral or view (home tab or modal).

        The button is chosen by action_id, visible text, block_id, or its index among the
        (so far matching) buttons; with none given, the only button.
        """
        ref = _pick(target.buttons, action_id, text, block_id, index)
        return await self._act(target, ref, user=user, value=None)

    async def select(
        self,
        target: Message | View,
        value: Any,
        *,
        action_id: str | None = None,
        block_id: str | None = None,
        user: str | None = None,
    ) -> httpx.Response:
        """Picks `value` (an option value or text, a user id, ...) in a select or picker.

        In a view the choice is kept and goes into the view's state on submission, as in Slack.
        """
        stateful = [ref for ref in target.elements if ref.type != "button"]
        ref = _pick(stateful, action_id, None, block_id, None)
        if isinstance(target, View):
            state = payloads.element_state(ref.element, value)
            target.state_values.setdefault(ref.block_id, {})[ref.action_id] = state
        return await self._act(target, ref, user=user, value=value)

    async def _act(
        self, target: Message | View, ref: ElementRef, *, user: str | None, value: Any
    ) -> httpx.Response:
        ws = self.workspace
        person = self._user(user or _owner(ws, target))
        response_url = None
        if isinstance(target, Message):
            response_url = self.emulator.new_response_url(
                target.channel,
                person.id,
                team_id=ws.team_id,
                message_ts=target.ts,
                ephemeral=target.ephemeral_to is not None,
            )
        payload = payloads.block_actions(
            ws=ws,
            user=person,
            target=target,
            actions=[payloads.action(ref, self._action_ts(), value)],
            token=self.token,
            api_app_id=self.api_app_id,
            trigger_id=self.emulator.issue_trigger(person.id, team_id=ws.team_id),
            response_url=response_url,
        )
        return await self._send_payload(payload)

    async def submit_view(
        self,
        view: View | None = None,
        *,
        user: str | None = None,
        values: Mapping[str, Any] | None = None,
        apply_response: bool = True,
    ) -> httpx.Response:
        """Submits a modal (default: the user's top one) with `values` filled in.

        values = {block_id: {action_id: value}} (or {block_id: value} for a one-element
        block). Slack's handling of the answer (close, errors, update, push, clear) is applied.
        """
        ws = self.workspace
        if view is None:
            if user is None:
                raise ValueError("give the view or the user whose open modal to submit")
            view = self.emulator.open_view(user, team_id=ws.team_id)
            if view is None:
                raise LookupError(f"{user} has no modal open")
        person = self._user(user or view.user_id)
        state = payloads.view_state(view, values or {})
        view.state_values = state
        payload = payloads.view_submission(
            ws=ws,
            user=person,
            view=view,
            state=state,
            token=self.token,
            api_app_id=self.api_app_id,
            trigger_id=self.emulator.issue_trigger(person.id, team_id=ws.team_id),
        )
        response = await self._send_payload(payload)
        if apply_response and response.status_code == 200:
            body = self.ack_body(response)
            self.emulator.apply_view_response(view, body if isinstance(body, dict) else None)
        return response

    async def close_view(self, view: View, *, user: str | None = None) -> httpx.Response | None:
        """The user closes a modal; Baton hears of it only if the view asked (notify_on_close)."""
        ws = self.workspace
        person = self._user(user or view.user_id)
        ws.close_modal(person.id, None if view.spec.get("clear_on_close") else view.id)
        if not view.spec.get("notify_on_close"):
            return None
        payload = payloads.view_closed(
            ws=ws, user=person, view=view, token=self.token, api_app_id=self.api_app_id
        )
        return await self._send_payload(payload)

    # -- events --

    async def event(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> httpx.Response:
        """Delivers `event` in an event_callback envelope (event_ts filled in if absent).

        With the same event_id and a retry_num this is a redelivery; `replay()` resends a
        previous body byte for byte.
        """
        now = self.emulator.clock()
        event = {**event, "event_ts": event.get("event_ts") or f"{now:.6f}"}
        envelope = payloads.event_callback(
            ws=self.workspace,
            event=event,
            token=self.token,
            api_app_id=self.api_app_id,
            event_id=event_id or payloads.new_event_id(),
            event_time=int(now),
        )
        retry = _retry_headers(retry_num, retry_reason)
        return await self._send(json.dumps(envelope).encode(), "application/json", retry)

    async def app_home_opened(self, user: str) -> httpx.Response:
        person = self._user(user)
        event: JSON = {
            "type": "app_home_opened",
            "user": person.id,
            "channel": self.workspace.open_dm(person.id).id,
            "tab": "home",
        }
        home = self.emulator.home(person.id, team_id=self.team_id)
        if home is not None:
            event["view"] = home.to_payload()
        return await self.event(event)

    async def message(
        self, text: str, *, user: str, channel: str | None = None, thread_ts: str | None = None
    ) -> httpx.Response:
        """`user` writes `text` (default: in their DM with the bot): recorded, then delivered."""
        person = self._user(user)
        said = self.emulator.user_says(
            person.id, channel or person.id, text, thread_ts=thread_ts, team_id=self.team_id
        )
        kind = self.workspace.conversations[said.channel].kind
        event: JSON = {
            "type": "message",
            "channel": said.channel,
            "user": person.id,
            "text": text,
            "ts": said.ts,
            "event_ts": said.ts,
            "team": self.team_id,
            "channel_type": {"channel": "channel", "im": "im", "mpim": "mpim"}[kind],
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return await self.event(event)

    async def url_verification(self, challenge: str) -> httpx.Response:
        body = {"token": self.token, "challenge": challenge, "type": "url_verification"}
        return await self._send(json.dumps(body).encode(), "application/json")

    # -- retries and answers --

    async def replay(
        self,
        request: httpx.Request | None = None,
        *,
        retry_num: int | None = 1,
        retry_reason: str = "http_timeout",
    ) -> httpx.Response:
        """Resends a request body unchanged (default: the last one), as a Slack retry does
        (with no retry_num, as a replay of the signed request does)."""
        request = request or self.last_request
        if request is None:
            raise LookupError("nothing sent yet")
        headers = _retry_headers(retry_num, retry_reason)
        return await self._send(request.content, request.headers["content-type"], headers)

    @staticmethod
    def ack_body(response: httpx.Response) -> JSON | str | None:
        """Baton's acknowledgement: a JSON object, a plain text, or None when empty."""
        if not response.content:
            return None
        try:
            body = response.json()
        except ValueError:
            return response.text
        return body if isinstance(body, dict) else response.text

    @classmethod
    def view_errors(cls, response: httpx.Response) -> dict[str, str] | None:
        """The {block_id: message} of a `response_action: errors` answer, else None."""
        body = cls.ack_body(response)
        if isinstance(body, dict) and body.get("response_action") == "errors":
            errors = body.get("errors", {})
            return {str(k): str(v) for k, v in errors.items()}
        return None

    # -- plumbing --

    def _user(self, ref: str) -> User:
        user = self.workspace.user(ref)
        if user is None:
            raise KeyError(f"no user {ref!r} in {self.team_id}")
        return user

    def _action_ts(self) -> str:
        return f"{self.emulator.clock():.6f}"

    async def _send_payload(self, payload: JSON) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self._send(body, FORM)

    async def _send(
        self, body: bytes, content_type: str, extra: Mapping[str, str] | None = None
    ) -> httpx.Response:
        timestamp = str(int(self.now()))
        signed = signature(self.signing_secret, timestamp, body)
        if self.break_signature:
            signed = signed[:-1] + ("0" if signed[-1] != "0" else "1")
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signed,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **(extra or {}),
        }
        request = self._client.build_request("POST", self.url, content=body, headers=headers)
        self.last_request = request
        return await self._client.send(request)


def _retry_headers(retry_num: int | None, reason: str) -> dict[str, str]:
    if retry_num is None:
        return {}
    return {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}


def _owner(ws: Workspace, target: Message | View) -> str:
    """Who sees the target without being told: a view's user, an ephemeral's, a DM's."""
    if isinstance(target, View):
        return target.user_id
    if target.ephemeral_to is not None:
        return target.ephemeral_to
    conversation = ws.conversations[target.channel]
    if conversation.kind == "im":
        return conversation.name
    raise ValueError("say which user clicks a message in a shared channel")


def _pick(
    refs: list[ElementRef],
    action_id: str | None,
    text: str | None,
    block_id: str | None,
    index: int | None,
) -> ElementRef:
    found = refs
    if action_id is not None:
        found = [ref for ref in found if ref.action_id == action_id]
    if text is not None:
        found = [ref for ref in found if ref.text == text]
    if block_id is not None:
        found = [ref for ref in found if ref.block_id == block_id]
    if index is not None:
        found = [found[index]] if -len(found) <= index < len(found) else []
    if len(found) != 1:
        available = [f"{ref.text or ref.type} ({ref.action_id})" for ref in refs]
        raise LookupError(f"{len(found)} elements match; available: {available}")
    return found[0]
