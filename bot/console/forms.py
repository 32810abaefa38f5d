"""Filling in a modal as typed (`fill <field> <text>`): which field a word names, and the value
the text gives that field's element."""

from __future__ import annotations

from typing import Any

from bot.console.errors import ConsoleError
from bot.console.names import Names
from bot.console.screen import Field, modal_fields
from bot.slack_emulator import View


def find_field(view: View, key: str) -> Field:
    """A field by its key, its number, the last part of its key (`yaml` for `wf_yaml`)
    or the start of its label."""
    fields = modal_fields(view)
    wanted = key.lower()
    if wanted.isdigit() and 1 <= int(wanted) <= len(fields):
        return fields[int(wanted) - 1]
    found = (
        [f for f in fields if f.key == wanted]
        or [f for f in fields if f.key.rsplit("_", 1)[-1] == wanted]
        or [f for f in fields if f.label.lower().startswith(wanted)]
    )
    if len(found) != 1:
        known = ", ".join(f"`{f.key}` ({f.label})" for f in fields) or "none"
        raise ConsoleError(f"Which field? This modal has: {known}.")
    return found[0]


def field_value(field: Field, text: str, names: Names) -> Any:
    """What the element holds once `text` is typed into it: @names and #channels become ids."""
    kind = field.ref.type
    if "users" in kind:
        ids = [names.user_id(word) for word in text.replace(",", " ").split()]
        return ids if kind.startswith("multi_") else (ids[0] if ids else None)
    if "conversations" in kind or "channels" in kind:
        ids = [names.channel_id(word) for word in text.replace(",", " ").split()]
        return ids if kind.startswith("multi_") else (ids[0] if ids else None)
    if kind.startswith("multi_") or kind == "checkboxes":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text
