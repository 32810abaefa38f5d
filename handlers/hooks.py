"""`/baton hook add | list | remove | test`: integrations, for admins (SPEC section 7)."""

from __future__ import annotations

import re

from bot.commands import usage_error
from bot.integrations import registry
from bot.integrations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from bot.notify.replies import Reply
from bot.people.permissions import Actor
from bot.render.blocks import context, section
from bot.runtime import Runtime
from bot.slack.text import clip, escape, mention, when
from handlers.requests import SlashRequest

# Slack sends a typed URL as <https://…> or <https://…|label>, with & < > escaped inside.
SLACK_LINK = re.compile(r"<([^|>]+)(?:\|[^>]*)?>")
GUIDE = "docs/integrations.md"
VERIFY_PYTHON = (
    "import hashlib, hmac, time\n"
    "def verified(secret, headers, body: bytes) -> bool:\n"
    f'    ts = headers["{TIMESTAMP_HEADER}"]\n'
    '    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256)\n'
    f'    return (hmac.compare_digest("v1=" + mac.hexdigest(), headers["{SIGNATURE_HEADER}"])\n'
    "            and abs(time.time() - int(ts)) < 300)"
)


def typed_url(word: str) -> str:
    found = SLACK_LINK.fullmatch(word.strip())
    url = found.group(1) if found else word.strip()
    return url.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def add(runtime: Runtime, actor: Actor, args: list[str]) -> Reply:
    if len(args) != 2:
        raise usage_error(
            "hook",
            "Give the integration a name and its URL, e.g. "
            "`/baton hook add okta https://hooks.example.com/baton`.",
        )
    added = await registry.add(runtime, actor, args[0].lower(), typed_url(args[1]))
    name = added.integration.name
    text = (
        f"Added integration `{name}`: Baton will POST to {escape(added.integration.url)}.\n"
        f"*Its secret, shown only this once:* ```{added.secret}```\n"
        f"Baton signs every call with it: `{SIGNATURE_HEADER}: v1=<hex HMAC-SHA256(secret, "
        f'"<{TIMESTAMP_HEADER}>.<body>")>`. Check it like this:\n```{VERIFY_PYTHON}```\n'
        f"Use it in a step with `hook:{name}`; `/baton hook test {name}` sends a signed ping."
    )
    return Reply(text, [section(text), context(f"The payload and callbacks: `{GUIDE}`.")])


async def list_hooks(runtime: Runtime, actor: Actor, args: list[str]) -> Reply:
    rows = await registry.list_all(runtime, actor)
    if not rows:
        return Reply(
            "No integrations yet. Add one with `/baton hook add &lt;name&gt; &lt;url&gt;`."
        )
    lines = [
        f"• `{row.name}` {escape(clip(row.url, 200))} · added by {mention(row.created_by)} "
        f"{when(row.created_at, '{date_short}')}"
        for row in rows
    ]
    text = "*Integrations*\n" + "\n".join(lines)
    return Reply(text, [section(text)])


async def remove(runtime: Runtime, actor: Actor, args: list[str]) -> Reply:
    if len(args) != 1:
        raise usage_error("hook", "Which integration? `/baton hook remove &lt;name&gt;`.")
    name = args[0].lower()
    users = await registry.remove(runtime, actor, name)
    still = (
        f" These workflows still call it, so their `{name}` steps will fail until you edit "
        f"them or add it again: {', '.join(f'`{w}`' for w in users)}."
        if users
        else ""
    )
    return Reply(f"Removed integration `{name}`; its secret is gone for good.{still}")


async def ping(runtime: Runtime, actor: Actor, args: list[str]) -> Reply:
    if len(args) != 1:
        raise usage_error("hook", "Which integration? `/baton hook test &lt;name&gt;`.")
    ping = await registry.ping(runtime, actor, args[0].lower())
    name = ping.integration.name
    if ping.answer is None:
        return Reply(f"Pinged `{name}`: it {escape(ping.problem or 'did not answer')}.")
    answer = ping.answer
    said = answer.body.decode("utf-8", errors="replace").strip()
    shown = f"\n```{escape(clip(said, 500))}```" if said else " (empty body)"
    verdict = "✅" if 200 <= answer.status < 300 else "⚠️"
    return Reply(
        f"{verdict} Pinged `{name}`: it answered {answer.status} in "
        f"{answer.seconds * 1000:.0f} ms{shown}"
    )


VERBS = {"add": add, "list": list_hooks, "remove": remove, "test": ping}


async def hook(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    args = request.command.args
    verb = VERBS.get(args[0].lower()) if args else None
    if verb is None:
        raise usage_error("hook", "Say what to do: add, list, remove or test.")
    return await verb(runtime, actor, args[1:])
