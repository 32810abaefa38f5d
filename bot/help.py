"""`/baton help`: the commands by topic, the workflow language, an example."""

from __future__ import annotations

from collections.abc import Collection

from bot.command_line import SPECS, usage_error
from bot.replies import Blocks, Reply

EXAMPLE = """/baton define onboarding Onboard a new hire
docs: Collect signed documents @alice due 1d
laptop: Prepare laptop @it-team after docs due 2d
lunch: "Welcome lunch" {manager} after laptop
signoff: Sign-off {manager} approval after lunch due 4h"""

TOPIC_TITLES = {
    "basics": "Basics",
    "workflows": "Workflows",
    "runs": "Runs",
    "steps": "Steps (the text forms of the buttons)",
    "time": "Time: schedules, hours, away",
    "digests": "Digests",
    "integrations": "Integrations",
}


def _section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def help_reply(topic: str, available: Collection[str], language_help: str) -> Reply:
    """Help on everything, one topic, one command, or the workflow language."""
    topic = topic.strip().lower().lstrip("/")
    specs = [spec for spec in SPECS if spec.name in available]
    if topic in ("language", "syntax", "steps-language"):
        return Reply(language_help, [_section(language_help[:2900])])
    if topic in ("example", "examples"):
        text = f"An example workflow:\n```{EXAMPLE}```\nThen: `/baton run onboarding manager=@dave`"
        return Reply(text, [_section(text)])
    by_name = {spec.name: spec for spec in specs}
    if topic in by_name:
        spec = by_name[topic]
        text = f"`{spec.usage}`\n{spec.summary}"
        return Reply(text, [_section(text)])
    topics = [t for t in TOPIC_TITLES if any(spec.topic == t for spec in specs)]
    if topic and topic not in topics:
        known = [*topics, "language", "example", *by_name]
        raise usage_error("help", f"There is no help topic `{topic}`. Topics: {', '.join(known)}.")
    chosen = [topic] if topic else topics
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Baton: your team's workflows"}}
    ]
    lines: list[str] = []
    for name in chosen:
        entries = "\n".join(
            f"`{spec.usage}`  {spec.summary}" for spec in specs if spec.topic == name
        )
        lines.append(f"*{TOPIC_TITLES[name]}*\n{entries}")
        blocks.append(_section(f"*{TOPIC_TITLES[name]}*\n{entries}"[:3000]))
    footer = (
        "More: `/baton help language` (writing steps), `/baton help example`, "
        "`/baton help <command>`."
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return Reply("\n\n".join([*lines, footer]), blocks)
