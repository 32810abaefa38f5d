"""The console's one error: a line it cannot carry out as typed."""


class ConsoleError(Exception):
    """Something the console cannot do as typed; the message says what to write."""
