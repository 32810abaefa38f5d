"""Slack's answers first, the listeners' work after them.

Bolt answers a request over HTTP only when its runner next polls (every 10 ms) after `ack()`.
Listener work running meanwhile keeps the event loop from those polls, so when fifty people
click at once, the work started by the first clicks would delay everyone else's answer, and
Slack shows an error for an answer later than 3 seconds. So the Request URL route counts the
requests it is answering, and a listener's `ack` returns only once its own answer is out and
no other is pending (or after MAX_DEFER, so a steady stream of requests cannot starve work).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

ANSWERS = "baton_answers"  # the key of the route's Answers in Bolt's context
MAX_DEFER = 0.5  # seconds a listener's work may wait for other requests' answers

Ack = Callable[..., Awaitable[None]]


class Answers:
    """The HTTP answers to Slack this process still owes."""

    def __init__(self) -> None:
        self.pending = 0
        self._none_pending = asyncio.Event()
        self._none_pending.set()

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        self.pending += 1
        self._none_pending.clear()
        try:
            yield
        finally:
            # Set before the answer is written, but waiters resume only after this task next
            # yields, and the answer is written before it does.
            self.pending -= 1
            if self.pending == 0:
                self._none_pending.set()

    async def all_sent(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._none_pending.wait(), MAX_DEFER)


def ack_then_wait(ack: Ack, context: Mapping[str, Any]) -> Ack:
    """`ack`, returning once the answers are out (at once where no route counts them, e.g.
    in Socket Mode, whose acks go out on their own)."""
    answers = context.get(ANSWERS)
    if not isinstance(answers, Answers):
        return ack

    async def acked(*args: Any, **kwargs: Any) -> None:
        await ack(*args, **kwargs)
        await answers.all_sent()

    return acked
