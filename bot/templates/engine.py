"""Jinja2 for Baton's prose: built-in templates from this package, operator overrides from
BATON_TEMPLATE_DIR rendered in a sandbox, and a fall-back to the built-in template whenever an
override fails, so a broken override never silences a message.

Templates are macro libraries: Python calls one macro per piece of prose (a heading, one line
of a list) and lays the pieces out as Block Kit itself, so limits hold whatever a template says.

Every `{{ value }}` is escaped for Slack (`&`, `<`, `>`) unless Baton marked it `Mrkdwn`
(mentions, dates, titles already escaped when stored) or it is what another macro wrote: what
a user typed can never ping `@channel` or forge a link, even from an operator's template that
forgets to escape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    StrictUndefined,
    Template,
)
from jinja2.runtime import Context, Macro
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from bot.slack.text import escape, format_span, when

log = logging.getLogger("baton.templates")

PACKAGE_LOADER_ARGS = ("bot", "templates")


class Mrkdwn(str):
    """Text that is already Slack mrkdwn (escaped user text, mentions, dates): shown as is."""

    __slots__ = ()


def slack_escape(value: object) -> Mrkdwn:
    """The `slack_escape` filter: escape Slack's three control characters, once."""
    if isinstance(value, Mrkdwn | Markup):
        return Mrkdwn(value)
    return Mrkdwn(escape(str(value)))


class _Context(Context):
    """Marks what a macro called from a template returns as ready mrkdwn: its values were
    escaped when it rendered them, and escaping them again would show `&amp;` to readers."""

    def call(__self, __obj: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        result = super().call(__obj, *args, **kwargs)
        return Mrkdwn(result) if isinstance(__obj, Macro) and isinstance(result, str) else result


def _finalize(value: object) -> object:
    if isinstance(value, Mrkdwn | Markup) or not isinstance(value, str):
        return value
    return escape(value)


def _when(moment: datetime | None, style: str = "{date_short_pretty} {time}") -> Mrkdwn:
    return Mrkdwn(when(moment, style)) if moment is not None else Mrkdwn("")


def _span(value: timedelta | None) -> str:
    return format_span(value) if value is not None else ""


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


FILTERS: dict[str, Callable[..., Any]] = {
    "slack_escape": slack_escape,
    "when": _when,
    "span": _span,
    "plural": _plural,
}


def _configure(env: Environment) -> Environment:
    env.filters.update(FILTERS)
    env.context_class = _Context
    return env


class Templates:
    """The template environments of one Baton process."""

    def __init__(self, override_dir: Path | None = None) -> None:
        options: dict[str, Any] = {
            "autoescape": False,  # Slack is not HTML: escaping is `_finalize`'s job
            "finalize": _finalize,
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": False,
        }
        builtin = Environment(loader=PackageLoader(*PACKAGE_LOADER_ARGS), **options)
        self._builtin = _configure(builtin)
        self._override: Environment | None = None
        self.override_dir = override_dir
        if override_dir is not None:
            # The operator's folder first, then the package; `baton/<name>` always reaches the
            # built-in template, so an override can import it and change only a few macros.
            loader = ChoiceLoader(
                [
                    FileSystemLoader(str(override_dir)),
                    PrefixLoader({"baton": PackageLoader(*PACKAGE_LOADER_ARGS)}),
                    PackageLoader(*PACKAGE_LOADER_ARGS),
                ]
            )
            self._override = _configure(SandboxedEnvironment(loader=loader, **options))

    def _overridden(self, name: str) -> bool:
        return self.override_dir is not None and (self.override_dir / name).is_file()

    def macros(self, name: str, **context: Any) -> Macros:
        """The macros of template `name`, the operator's version first when there is one."""
        builtin = self._builtin.get_template(name).make_module(context)
        override = None
        if self._override is not None and self._overridden(name):
            try:
                template: Template = self._override.get_template(name)
                override = template.make_module(context)
            except Exception:
                log.exception("template override %s failed to load; using the built-in one", name)
        return Macros(name, builtin, override)


class Macros:
    """Calls a template's macros; an override's macro that fails (or is missing) gives way to
    the built-in macro, and the failure is logged once per message."""

    def __init__(self, name: str, builtin: Any, override: Any | None) -> None:
        self.name = name
        self._builtin = builtin
        self._override = override
        self._broken: set[str] = set()

    def __call__(self, macro: str, *args: Any) -> str:
        if self._override is not None and macro not in self._broken:
            found = getattr(self._override, macro, None)
            if found is not None:
                try:
                    return str(found(*args)).strip()
                except Exception:
                    self._broken.add(macro)
                    log.exception(
                        "template override %s: macro %s failed; using the built-in one",
                        self.name,
                        macro,
                    )
        return str(getattr(self._builtin, macro)(*args)).strip()
