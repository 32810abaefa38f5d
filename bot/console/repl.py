"""The console's terminal: lines from a script file, then from stdin, answers on stdout.

At a terminal each line is read with a prompt naming who you are and where. When stdin is a
pipe no prompt is written, so `baton console < demo.txt > out.txt` gives only Baton's side;
a `--script` file's lines are shown with their prompt, since nobody saw them typed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Final, TextIO

from bot.console.session import ConsoleOptions, open_console
from bot.console.shell import Console

CONTINUE: Final = "... "
QUIT: Final = frozenset({"quit", "exit", "q"})


async def run_console(
    options: ConsoleOptions,
    *,
    script: Path | None = None,
    stdin: TextIO,
    stdout: TextIO,
) -> None:
    def write(text: str) -> None:
        stdout.write(text + "\n")
        stdout.flush()

    async with open_console(options) as console:
        write(console.intro)
        if script is not None:
            lines = await asyncio.to_thread(script.read_text, encoding="utf-8")
            for line in _joined(iter(lines.splitlines())):
                write("\n" + console.prompt + line.replace("\n", "\n" + CONTINUE))
                if not await _do(console, line, write):
                    return
        interactive = stdin.isatty()
        if interactive:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (line editing and history for input())
        async for line in _typed(console, stdin, interactive):
            # Piped answers get a blank line between them; at a terminal the prompt separates.
            if not await _do(console, line, write, gap="" if interactive else "\n"):
                return
            if console.stopped:
                return
        if interactive:
            write("")  # Ctrl-D: leave the shell's prompt on a line of its own


async def _do(console: Console, line: str, write: Callable[[str], None], gap: str = "") -> bool:
    """Carry out one line; False when it asks to quit."""
    if line.strip().lower() in QUIT:
        return False
    answer = await console.execute(line)
    if answer:
        write(gap + answer)
    return True


def _joined(lines: Iterator[str]) -> Iterator[str]:
    """Lines ending in a backslash go on with the next one (the newline kept, as in Slack)."""
    for line in lines:
        parts = [line]
        while parts[-1].endswith("\\"):
            parts[-1] = parts[-1][:-1].rstrip()
            following = next(lines, None)
            if following is None:
                break
            parts.append(following)
        joined = "\n".join(parts)
        if joined.strip() and not joined.lstrip().startswith("#"):
            yield joined


async def _typed(console: Console, stdin: TextIO, interactive: bool) -> AsyncIterator[str]:
    while True:
        parts: list[str] = []
        prompt = console.prompt
        while True:
            line = await _read_line(console, stdin, prompt if interactive else None)
            if line is None:
                if parts:
                    yield "\n".join(parts)
                return
            if line.endswith("\\"):
                parts.append(line[:-1].rstrip())
                prompt = CONTINUE
                continue
            parts.append(line)
            break
        joined = "\n".join(parts)
        if joined.strip() and not joined.lstrip().startswith("#"):
            yield joined


async def _read_line(console: Console, stdin: TextIO, prompt: str | None) -> str | None:
    """One line, or None at end of input or when Baton stopped (Ctrl-C).

    The read happens on a daemon thread: a blocked read then never keeps the process alive.
    """
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[str | None] = loop.create_future()

    def deliver(value: str | None) -> None:
        if not arrived.done():
            arrived.set_result(value)

    def read() -> None:
        value: str | None
        try:
            if prompt is not None:
                value = input(prompt)  # readline editing and history at a terminal
            else:
                raw = stdin.readline()
                value = raw.rstrip("\r\n") if raw else None
        except (EOFError, OSError, ValueError):
            value = None
        loop.call_soon_threadsafe(deliver, value)

    def stopped(_: object) -> None:
        deliver(None)

    threading.Thread(target=read, name="console-input", daemon=True).start()
    console.server.task.add_done_callback(stopped)
    try:
        return await arrived
    finally:
        console.server.task.remove_done_callback(stopped)
