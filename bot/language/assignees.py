"""Who does a step, as people write it: ``@name``, Slack's escaped mentions and ``{param}``,
read into an :class:`~bot.language.model.Assignee` and written back."""

from __future__ import annotations

import re
from typing import Final

from bot.language.model import GROUP_ID_RE, MENTION_RE, PARAM_NAME_RE, USER_ID_RE, Assignee
from storage.vocabulary import AssigneeKind

__all__ = [
    "MENTION_ENTITY_RE",
    "AssigneeError",
    "clean_mentions",
    "format_assignee",
    "parse_assignee",
]

# A person, channel or user group Slack linked in what someone typed, with the `|name` it
# adds (`<@U0BOB|bob>`): the name is how it was spelled then; the id is what it means.
MENTION_ENTITY_RE: Final = re.compile(
    r"<(@[UW][A-Z0-9]+|#[CG][A-Z0-9]+|!subteam\^S[A-Z0-9]+)(?:\|[^<>]*)?>"
)
_USER_MENTION_RE: Final = re.compile(r"<@([^|>]*)(?:\|([^>]*))?>")
_GROUP_MENTION_RE: Final = re.compile(r"<!subteam\^([^|>]*)(?:\|([^>]*))?>")


class AssigneeError(ValueError):
    """An assignee that cannot be read; ``hint`` says what to write instead."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_assignee(text: str, *, bare_ids: bool = False) -> Assignee:
    """Read ``@name``, ``<@U123|name>``, ``<!subteam^S123|@group>`` or ``{param}``.

    With ``bare_ids`` (the YAML form) a plain user id ``U…``/``W…`` or group id ``S…`` is
    accepted as well.
    """
    spelled = text.strip()
    if bare_ids and USER_ID_RE.fullmatch(spelled):
        return Assignee(AssigneeKind.USER, spelled)
    if bare_ids and GROUP_ID_RE.fullmatch(spelled):
        return Assignee(AssigneeKind.GROUP, spelled)
    if spelled.startswith("<@"):
        user = _USER_MENTION_RE.fullmatch(spelled)
        if user is None or not USER_ID_RE.fullmatch(user.group(1)):
            raise AssigneeError(
                f"'{spelled}' is not a Slack user mention",
                "Write @name or <@U0123ABCD> with the user's id",
            )
        return Assignee(AssigneeKind.USER, user.group(1), _label(user.group(2)))
    if spelled.startswith("<!subteam"):
        group = _GROUP_MENTION_RE.fullmatch(spelled)
        if group is None or not GROUP_ID_RE.fullmatch(group.group(1)):
            raise AssigneeError(
                f"'{spelled}' is not a Slack user group mention",
                "Write @group or <!subteam^S0123ABCD> with the group's id",
            )
        return Assignee(AssigneeKind.GROUP, group.group(1), _label(group.group(2)))
    if spelled.startswith("{"):
        inner = spelled[1:-1] if spelled.endswith("}") else None
        if inner is None or not PARAM_NAME_RE.fullmatch(inner):
            raise AssigneeError(
                f"'{spelled}' is not a parameter",
                "Write {name} with letters, digits and _ (e.g. {manager})",
            )
        return Assignee(AssigneeKind.PARAM, inner)
    if spelled.startswith("@"):
        name = spelled[1:]
        if not MENTION_RE.fullmatch(name):
            raise AssigneeError(
                f"'{spelled}' is not a user or group name",
                "Write @ and the name with letters, digits, '.', '-' or '_' (e.g. @alice)",
            )
        return Assignee(AssigneeKind.MENTION, name)
    ids = "a user id (U0123ABCD), a group id (S0123ABCD), " if bare_ids else ""
    raise AssigneeError(
        f"'{spelled}' is not an assignee",
        f"Write {ids}@name, <@U0123ABCD> or {{param}}",
    )


def _label(raw: str | None) -> str | None:
    if raw is None:
        return None
    label = raw.strip().removeprefix("@")
    return label or None


def format_assignee(assignee: Assignee, *, bare_ids: bool = False) -> str:
    """The text-form spelling (``<@U1>``, ``<!subteam^S1>``), or with ``bare_ids`` the YAML one
    (``U1``, ``S1``). Mentions are ``@name`` and parameters ``{name}`` in both."""
    match assignee.kind:
        case AssigneeKind.USER:
            return assignee.value if bare_ids else f"<@{assignee.value}>"
        case AssigneeKind.GROUP:
            return assignee.value if bare_ids else f"<!subteam^{assignee.value}>"
        case AssigneeKind.PARAM:
            return f"{{{assignee.value}}}"
        case AssigneeKind.MENTION:
            return f"@{assignee.value}"


def clean_mentions(text: str) -> str:
    """Typed mentions without Slack's ``|name``: ``<@U0BOB|bob>`` is ``<@U0BOB>``. Titles and
    descriptions are kept so: the name goes stale, and Slack shows the current one."""
    return MENTION_ENTITY_RE.sub(r"<\1>", text)
