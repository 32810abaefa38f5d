"""Typed views of Slack payloads: the only place that knows their field names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.command_line import CommandText, parse_command_text


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
        text = str(payload.get("text") or "")
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
