"""A listener's work waits until Slack's answers are out (bot/slack/acks.py)."""

from __future__ import annotations

import asyncio

import pytest

from bot.slack import acks
from bot.slack.acks import ANSWERS, Answers, ack_then_wait


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    async def __call__(self, **kwargs: object) -> None:
        self.calls.append(kwargs)


async def test_work_after_ack_waits_until_no_answer_is_pending() -> None:
    answers, ack = Answers(), Recorder()
    with answers.answering():  # this request's answer, not yet sent
        with answers.answering():  # another request's
            listener = asyncio.ensure_future(ack_then_wait(ack, {ANSWERS: answers})(text="hi"))
            await asyncio.sleep(0)
            assert ack.calls == [{"text": "hi"}]  # acked at once...
        await asyncio.sleep(0)
        assert not listener.done()  # ...but its work waits while any answer is owed
    await asyncio.wait_for(listener, timeout=1)


async def test_without_a_counting_route_ack_is_left_as_it_is() -> None:
    ack = Recorder()
    assert ack_then_wait(ack, {}) is ack  # Socket Mode: its acks go out on their own


async def test_a_steady_stream_of_requests_cannot_starve_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(acks, "MAX_DEFER", 0.0)
    answers, ack = Answers(), Recorder()
    with answers.answering():
        await asyncio.wait_for(ack_then_wait(ack, {ANSWERS: answers})(), timeout=1)
    assert ack.calls == [{}]
