"""Domain errors. Each carries the sentence the user sees, ephemerally; none is a crash."""

from __future__ import annotations

from bot.slack.text import clip, escape

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
