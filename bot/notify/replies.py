"""What a command or click answers to the one person who asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Blocks = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    blocks: Blocks = field(default_factory=list)
    in_channel: bool = False

    def as_response(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "text": self.text,
            "response_type": "in_channel" if self.in_channel else "ephemeral",
        }
        if self.blocks:
            body["blocks"] = self.blocks
        return body
