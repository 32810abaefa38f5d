"""What Slack does to a slash command's text before Baton gets it (`should_escape: true`).

Slack escapes `&`, `<` and `>`, and turns the mentions a person picked from its menus into
entities: `@alice` -> `<@U0ALICE|alice>`, `@it-team` -> `<!subteam^S0ITTEAM|@it-team>`,
`#general` -> `<#C0GENERAL|general>`, `@here` -> `<!here>`. A name Slack does not know stays
plain text, as it does in Slack.
"""

from __future__ import annotations

import re
from typing import Final

from bot.slack_emulator import Workspace

# A mention starts a word: `bob@example.com` and `step#2` are left alone.
_MENTION: Final = re.compile(r"(?<![\w@#&])([@#])([A-Za-z0-9][A-Za-z0-9._-]*)")
_SPECIAL: Final = frozenset({"here", "channel", "everyone"})


def escape_typed(text: str, workspace: Workspace) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub(lambda match: _entity(match, workspace), escaped)


def _entity(match: re.Match[str], workspace: Workspace) -> str:
    sigil, name = match.group(1), match.group(2)
    # Trailing punctuation ends a sentence, not a name: "ask @bob." mentions bob.
    trimmed = name
    while trimmed:
        found = _lookup(sigil, trimmed, workspace)
        if found is not None:
            return found + name[len(trimmed) :]
        if trimmed[-1] not in "._-":
            break
        trimmed = trimmed[:-1]
    return match.group(0)


def _lookup(sigil: str, name: str, workspace: Workspace) -> str | None:
    lowered = name.lower()
    if sigil == "#":
        conversation = workspace.conversation(lowered)
        if conversation is None or conversation.kind != "channel":
            return None
        return f"<#{conversation.id}|{conversation.name}>"
    if lowered in _SPECIAL:
        return f"<!{lowered}>"
    user = workspace.user(lowered)
    if user is not None and not user.is_bot:
        return f"<@{user.id}|{user.name}>"
    group = workspace.usergroup(lowered)
    if group is not None:
        return f"<!subteam^{group.id}|@{group.handle}>"
    return None
