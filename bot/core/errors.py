"""Domain errors. Each carries the sentence the user sees, ephemerally; none is a crash."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from bot.slack.text import clip, escape

P = ParamSpec("P")
T = TypeVar("T")

MAX_PROBLEM_CHARS = 1500  # a problem quoting a huge argument still leaves room for the usage


class BatonError(Exception):
    """Something the user can fix; `str(error)` is the message shown to them."""


class UsageError(BatonError):
    def __init__(self, problem: str, usage: str) -> None:
        super().__init__(f"{clip(problem, MAX_PROBLEM_CHARS)}\nUsage: `{escape(usage)}`")
        self.problem = problem
        self.usage = usage


class NotFound(BatonError):
    pass


class Forbidden(BatonError):
    pass


class Conflict(BatonError):
    """The thing changed under the user (a second click, a stale button, a race)."""


class NameTaken(Conflict):
    """A workflow was to be created under a name someone else took in the meantime."""


class InvalidInput(ValueError):
    """Typed text a parser cannot read: the message says why in plain text, quoting it.
    Answering a slash command, the listeners' error handler shows it escaped, with that
    command's usage line. A ValueError, as parsers have always raised."""


def reads_input(parse: Callable[P, T]) -> Callable[P, T]:
    """Marks a parser of typed text: any ValueError it raises is a mistake in that text, and
    leaves it as InvalidInput."""

    @functools.wraps(parse)
    def read(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return parse(*args, **kwargs)
        except InvalidInput:
            raise
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None

    return read
