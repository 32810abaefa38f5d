"""`/baton help`: the commands by topic, the workflow language, an example (prose: help.j2)."""

from __future__ import annotations

from bot.commands import SPECS, usage_error
from bot.notify.replies import Reply
from bot.render.blocks import Block, context, header, section
from bot.slack.text import escape
from bot.templates import Templates

TEMPLATE = "help.j2"
TOPICS = ("basics", "workflows", "runs", "steps", "time", "digests", "integrations")


def help_reply(templates: Templates, topic: str) -> Reply:
    """Help on everything, one topic, one command, or the workflow language. Every spec has a
    handler (handlers/slash.py refuses to import otherwise), so every one is listed."""
    macros = templates.macros(TEMPLATE)
    topic = topic.strip().lower().lstrip("/")
    specs = list(SPECS)
    if topic in ("language", "syntax", "steps-language"):
        return _one(macros("language"))
    if topic in ("example", "examples"):
        return _one(macros("example"))
    by_name = {spec.name: spec for spec in specs}
    if topic in by_name:
        return _one(macros("command", by_name[topic]))
    topics = [t for t in TOPICS if any(spec.topic == t for spec in specs)]
    if topic and topic not in topics:
        known = [*topics, "language", "example", *by_name]
        problem = f"There is no help topic `{escape(topic)}`. Topics: {', '.join(known)}."
        raise usage_error("help", problem)
    parts = [
        macros("topic", name, [spec for spec in specs if spec.topic == name])
        for name in ([topic] if topic else topics)
    ]
    footer = macros("footer")
    blocks: list[Block] = [
        header(macros("header")),
        *(section(part) for part in parts),
        context(footer),
    ]
    return Reply("\n\n".join([*parts, footer]), blocks)


def _one(text: str) -> Reply:
    return Reply(text, [section(text)])
