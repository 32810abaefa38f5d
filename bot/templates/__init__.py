"""Baton's prose as Jinja2 templates (`*.j2` here), overridable from BATON_TEMPLATE_DIR."""

from bot.templates.engine import Macros, Mrkdwn, Templates, slack_escape

__all__ = ["Macros", "Mrkdwn", "Templates", "slack_escape"]
