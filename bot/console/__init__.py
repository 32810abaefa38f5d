"""`baton console`: try Baton with no Slack workspace (SPEC section 9)."""

from bot.console.repl import run_console
from bot.console.session import Console, ConsoleError, ConsoleOptions, open_console

__all__ = ["Console", "ConsoleError", "ConsoleOptions", "open_console", "run_console"]
