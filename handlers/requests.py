"""Typed views of Slack payloads: the only place that knows their field names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.commands import CommandText, parse_command_text
from bot.notify.replies import Reply
from bot.slack.ids import BlockId, part_block


def slack_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass(frozen=True, slots=True)
class SlashRequest:
    team_id: str
    user_id: str
    user_name: str
    channel_id: str
    channel_name: str
    trigger_id: str
    text: str
    command: CommandText

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SlashRequest:
        # Slack sends typed &, < and > as entities (mentions stay <@U…|name>); Baton keeps
        # what the person typed and escapes it again wherever it shows it.
        text = slack_unescape(str(payload.get("text") or ""))
        return cls(
            team_id=str(payload["team_id"]),
            user_id=str(payload["user_id"]),
            user_name=str(payload.get("user_name") or ""),
            channel_id=str(payload.get("channel_id") or ""),
            channel_name=str(payload.get("channel_name") or ""),
            trigger_id=str(payload.get("trigger_id") or ""),
            text=text,
            command=parse_command_text(text),
        )


@dataclass(frozen=True, slots=True)
class ClickRequest:
    """A block_actions payload: who clicked which button, with what value."""

    team_id: str
    user_id: str
    action_id: str
    value: str
    trigger_id: str
    view_id: str | None
    block_id: str = ""
    # The message clicked in, when it was one Slack sent back (not an ephemeral or a view).
    channel_id: str = ""
    message_ts: str = ""
    message_text: str = ""
    message_blocks: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_payload(cls, body: dict[str, Any]) -> ClickRequest:
        action = (body.get("actions") or [{}])[0]
        team = body.get("team") or {}
        user = body.get("user") or {}
        container = body.get("container") or {}
        message = body.get("message") or {}
        return cls(
            team_id=str(team.get("id") or user.get("team_id") or ""),
            user_id=str(user.get("id") or ""),
            action_id=str(action.get("action_id") or ""),
            value=str(action.get("value") or ""),
            trigger_id=str(body.get("trigger_id") or ""),
            view_id=(body.get("view") or {}).get("id"),
            block_id=str(action.get("block_id") or ""),
            channel_id=str(container.get("channel_id") or ""),
            message_ts=str(container.get("message_ts") or ""),
            message_text=str(message.get("text") or ""),
            message_blocks=tuple(b for b in message.get("blocks") or [] if isinstance(b, dict)),
        )


@dataclass(frozen=True, slots=True)
class ViewSubmission:
    team_id: str
    user_id: str
    callback_id: str
    private_metadata: str
    values: dict[str, dict[str, Any]]

    @classmethod
    def from_payload(cls, body: dict[str, Any]) -> ViewSubmission:
        view = body.get("view") or {}
        team = body.get("team") or {}
        user = body.get("user") or {}
        return cls(
            team_id=str(team.get("id") or user.get("team_id") or ""),
            user_id=str(user.get("id") or ""),
            callback_id=str(view.get("callback_id") or ""),
            private_metadata=str(view.get("private_metadata") or ""),
            values=dict((view.get("state") or {}).get("values") or {}),
        )

    def text(self, block_id: str, action_id: str) -> str:
        element = self.values.get(block_id, {}).get(action_id, {})
        return str(element.get("value") or "").strip()

    def parts(self, block: BlockId, action_id: str) -> list[tuple[str, str]]:
        """A long text's boxes (`part_block`s of `block`) in order as (block id, text), empty
        ones left out, each as typed but for blank lines around it: a pasted part of YAML
        keeps the indentation its first line starts with. Joined by line breaks, the texts
        are the whole."""
        texts = []
        part = 1
        while (block_id := part_block(block, part)) in self.values:
            text = str(self.values[block_id].get(action_id, {}).get("value") or "")
            lines = text.rstrip().split("\n")
            while lines and not lines[0].strip():
                lines.pop(0)
            if lines:
                texts.append((block_id, "\n".join(lines)))
            part += 1
        return texts

    def selected_user(self, block_id: str, action_id: str) -> str | None:
        element = self.values.get(block_id, {}).get(action_id, {})
        user = element.get("selected_user")
        return str(user) if user else None

    def selected_users(self, block_id: str, action_id: str) -> list[str]:
        element = self.values.get(block_id, {}).get(action_id, {})
        return [str(user) for user in element.get("selected_users") or []]

    def selected_conversation(self, block_id: str, action_id: str) -> str | None:
        element = self.values.get(block_id, {}).get(action_id, {})
        chosen = element.get("selected_conversation") or element.get("selected_channel")
        return str(chosen) if chosen else None


# A subcommand's handler takes what it names of handlers.injected.SUBCOMMAND_ARGS.
Subcommand = Callable[..., Awaitable[Reply]]
