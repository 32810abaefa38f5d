"""Hook steps end to end: Baton on a loopback port calls a real local HTTP receiver, which
answers as a test scripts it and calls back over HTTP; Slack is the emulator, time the
ManualClock (retries are due by business time; the sweep is called after moving it)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, reject, settings
from schemathesis import GenerationMode, checks
from sqlmodel import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app.composition import create_app
from bot.app.server import RunningServer, start_server
from bot.core.clock import ManualClock
from bot.integrations import calls, outcomes
from bot.integrations.openapi import CALLBACK_OPENAPI
from bot.slack.timers import ManualTimer
from storage.db import unit_of_work
from storage.models import AuditEvent, Integration, Run
from tests.messages import labels
from tests.stack import START, Stack, open_stack
from tests.workflows import PROVISION, add_hook

# -- a real HTTP receiver standing in for the integration ------------------------------------

HANG = "hang"


@dataclass(frozen=True)
class Received:
    name: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers POST /<name> with the scripted replies in order (the last one repeats)."""

    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, Any] | str]] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    server: RunningServer | None = None
    arrivals: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, name: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/{name}"

    def script(self, name: str, *replies: tuple[int, Any] | str) -> None:
        self.scripts[name] = list(replies)

    def calls(self, name: str) -> list[Received]:
        return [r for r in self.requests if r.name == name]

    async def received(self, name: str, count: int) -> None:
        """Until `count` requests for `name` have arrived."""
        async with self.arrivals:
            await self.arrivals.wait_for(lambda: len(self.calls(name)) >= count)

    async def answer(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.requests.append(Received(name, dict(request.headers), await request.body()))
        async with self.arrivals:
            self.arrivals.notify_all()
        plan = self.scripts.get(name) or [(200, {"status": "done"})]
        reply = plan.pop(0) if len(plan) > 1 else plan[0]
        if reply == HANG:
            await self.release.wait()  # longer than Baton waits; released at teardown
            return JSONResponse({"status": "done"})
        assert isinstance(reply, tuple)
        status, body = reply
        return JSONResponse(body, status_code=status)


async def call_back(
    url: str,
    payload: Any,
    secret: str,
    *,
    timestamp: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """What the integration does later: POST its outcome to callback_url, signed."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "X-Baton-Timestamp": str(stamp),
        "X-Baton-Signature": signature or f"v1={mac}",
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient() as client:
        return await client.post(url, content=body, headers=headers)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = Starlette(routes=[Route("/{name}", found.answer, methods=["POST"])])
    found.server = await start_server(app)
    try:
        yield found
    finally:
        found.release.set()
        await found.server.stop()


@pytest.fixture
async def hooks(database_url: str) -> AsyncIterator[Stack]:
    """The stack allowed to call the loopback receiver, with secrets encrypted at rest."""
    async with open_stack(
        database_url,
        public_url=True,
        BATON_HOOK_ALLOW_PRIVATE=True,
        BATON_SECRET_KEY="test key, not secret",
    ) as stack:
        yield stack


# -- helpers -----------------------------------------------------------------------------------
async def start_provision(stack: Stack, receiver: Receiver) -> str:
    secret = await add_hook(stack, "okta", receiver.url("okta"))
    await stack.command(PROVISION, user="U0BOB")
    assert "Created `provision`" in stack.ephemeral("U0BOB")
    await stack.command("run provision", user="U0BOB")
    assert "Started `provision-1`" in stack.ephemeral("U0BOB")
    return secret


async def run_state(stack: Stack) -> str:
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        return (await session.exec(select(Run.state).where(Run.key == "provision-1"))).one()


async def audit_count(stack: Stack, action: str) -> int:
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int((await session.exec(query)).one())


def thread_texts(stack: Stack) -> list[str]:
    card = next(m for m in stack.emulator.messages("C0GENERAL") if "provision-1" in m.text)
    return [reply.text for reply in stack.emulator.thread("C0GENERAL", card.ts)]


def expected_signature(secret: str, received: Received) -> str:
    stamp = received.headers["x-baton-timestamp"]
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + received.body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


# -- the "done means" ------------------------------------------------------------------


async def test_sync_hook_is_done_with_its_output(hooks: Stack, receiver: Receiver) -> None:
    receiver.script("okta", (200, {"status": "done", "output": {"login": "ana<@U0BOB>"}}))
    secret = await start_provision(hooks, receiver)
    assert receiver.calls("okta") == []  # called by the sweep, not inside the Slack request

    await hooks.sweep()

    [received] = receiver.calls("okta")
    assert received.headers["x-baton-signature"] == expected_signature(secret, received)
    assert abs(int(received.headers["x-baton-timestamp"]) - time.time()) < 60
    assert received.headers["idempotency-key"]
    assert received.headers["content-type"] == "application/json"
    body = received.json
    assert body["event"] == "step.ready"
    assert body["run"]["id"] == "provision-1"
    assert body["run"]["owner"] == "U0BOB"
    assert body["step"] == {
        **body["step"],
        "id": "accounts",
        "title": "Create accounts",
        "integration": "okta",
    }
    assert body["params"] == {}
    assert body["callback_url"].startswith(f"{hooks.url}/hooks/callback/")

    rows = await hooks.steps("provision-1")
    assert rows["accounts"].state == "done"
    assert rows["accounts"].output == {"login": "ana<@U0BOB>"}
    # The next step's title shows the output, escaped like anything typed: no forged mention.
    assert rows["welcome"].title == "Welcome ana&lt;@U0BOB&gt;"
    dm = hooks.emulator.dm("U0ALICE")[-1]
    assert "Welcome ana&lt;@U0BOB&gt;" in dm.text
    assert any("Completed `accounts`" in text for text in thread_texts(hooks))


async def test_async_hook_waits_for_its_callback(hooks: Stack, receiver: Receiver) -> None:
    receiver.script("okta", (202, {"status": "accepted"}))
    secret = await start_provision(hooks, receiver)
    await hooks.sweep()

    assert (await hooks.steps("provision-1"))["accounts"].state == "ready"
    assert any("accepted the call" in text for text in thread_texts(hooks))
    await hooks.sweep(timedelta(hours=2))
    assert len(receiver.calls("okta")) == 1  # accepted means wait, not call again

    url = receiver.calls("okta")[0].json["callback_url"]
    answer = await call_back(url, {"status": "done", "output": {"login": "ana"}}, secret)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"run": "provision-1", "step": "accounts", "state": "done"}
    await hooks.settle()

    rows = await hooks.steps("provision-1")
    assert rows["accounts"].state == "done"
    assert rows["welcome"].state == "ready"
    assert rows["welcome"].title == "Welcome ana"
    assert "Welcome ana" in hooks.emulator.dm("U0ALICE")[-1].text


async def test_two_500s_then_success_completes_once_with_one_key(
    hooks: Stack, receiver: Receiver
) -> None:
    receiver.script("okta", (500, {}), (500, {}), (200, {"status": "done", "output": {"n": 1}}))
    await start_provision(hooks, receiver)

    await hooks.sweep()
    assert len(receiver.calls("okta")) == 1
    await hooks.sweep(timedelta(seconds=59))
    assert len(receiver.calls("okta")) == 1  # the next try waits for its time
    await hooks.sweep(timedelta(seconds=1))
    assert len(receiver.calls("okta")) == 2
    assert (await hooks.steps("provision-1"))["accounts"].state == "ready"
    await hooks.sweep(timedelta(minutes=4))
    await hooks.sweep(timedelta(hours=2))

    received = receiver.calls("okta")
    assert len(received) == 3
    assert len({r.headers["idempotency-key"] for r in received}) == 1
    assert len({r.body for r in received}) == 1
    assert [r.headers["x-baton-attempt"] for r in received] == ["1", "2", "3"]
    assert (await hooks.steps("provision-1"))["accounts"].state == "done"
    assert await audit_count(hooks, "step.complete") == 1
    assert await audit_count(hooks, "hook.retry") == 2
    texts = thread_texts(hooks)
    assert sum("answered 500; trying again" in text for text in texts) == 2
    assert sum("Completed `accounts`" in text for text in texts) == 1


async def test_hook_that_times_out_gives_up_then_retry_works(
    hooks: Stack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calls, "CALL_TIMEOUT", 0.2)
    # The call's time limit runs out when the test says so, once the hook has the request.
    deadlines = ManualTimer(ManualClock(START))
    hooks.baton.runtime.deadlines = deadlines
    receiver.script("okta", HANG)
    await start_provision(hooks, receiver)

    async def sweep_while_hanging(after: timedelta = timedelta(0)) -> None:
        tries = len(receiver.calls("okta"))
        hooks.clock.advance(after)
        sweeping = asyncio.create_task(hooks.baton.sweeper.sweep())
        await receiver.received("okta", tries + 1)
        await deadlines.sleeping()
        await deadlines.advance(1)  # past the limit (float seconds: not to the microsecond)
        await sweeping
        await hooks.settle()

    await sweep_while_hanging()
    for delay in calls.RETRY_DELAYS:
        assert (await hooks.steps("provision-1"))["accounts"].state == "ready"
        await sweep_while_hanging(delay)
    assert len(receiver.calls("okta")) == 5
    assert hooks.clock.now() - START == timedelta(hours=1)  # five tries within an hour

    rows = await hooks.steps("provision-1")
    assert rows["accounts"].state == "failed"
    assert await run_state(hooks) == "failed"
    dm = hooks.dm_for("U0BOB")  # the run's owner
    assert labels(dm) == ["Retry", "Skip"]
    # One message tells the owner: the run failed with it, so it is the engine's, with reasons.
    assert len([m for m in hooks.emulator.dm("U0BOB") if "failed" in m.text]) == 1
    assert "gave no usable answer in 5 tries" in str(dm.blocks)
    assert "gave no answer within 0.2s" in str(dm.blocks)
    await hooks.sweep(timedelta(hours=3))
    assert len(receiver.calls("okta")) == 5  # given up: no more calls

    receiver.script("okta", (200, {"status": "done", "output": {"login": "late"}}))
    response = await hooks.driver.click(dm, user="U0BOB", text="Retry")
    assert response.status_code == 200
    await hooks.settle()
    assert (await hooks.steps("provision-1"))["accounts"].state == "ready"
    assert await run_state(hooks) == "active"

    await hooks.sweep()
    received = receiver.calls("okta")
    assert len(received) == 6
    # A Retry is a new request, so it carries a new key (retries within one try share theirs).
    assert received[5].headers["idempotency-key"] != received[0].headers["idempotency-key"]
    rows = await hooks.steps("provision-1")
    assert rows["accounts"].state == "done"
    assert rows["welcome"].title == "Welcome late"


async def test_a_4xx_fails_the_step_at_once(hooks: Stack, receiver: Receiver) -> None:
    receiver.script("okta", (422, {"error": "no such department"}))
    await start_provision(hooks, receiver)
    await hooks.sweep()

    assert (await hooks.steps("provision-1"))["accounts"].state == "failed"
    dm = hooks.dm_for("U0BOB")
    assert "answered 422" in str(dm.blocks)
    assert "no such department" in str(dm.blocks)
    assert labels(dm) == ["Retry", "Skip"]
    await hooks.sweep(timedelta(hours=2))
    assert len(receiver.calls("okta")) == 1

    # Skip moves the run on without the step.
    await hooks.driver.click(dm, user="U0BOB", text="Skip")
    await hooks.settle()
    rows = await hooks.steps("provision-1")
    assert rows["accounts"].state == "skipped"
    assert rows["welcome"].state == "ready"


async def test_forged_stale_or_unsigned_callbacks_change_nothing(
    hooks: Stack, receiver: Receiver
) -> None:
    receiver.script("okta", (202, {}))
    secret = await start_provision(hooks, receiver)
    await hooks.sweep()
    url = receiver.calls("okta")[0].json["callback_url"]
    done = {"status": "done", "output": {"login": "mallory"}}

    forged = await call_back(url, done, "bsec_not-the-secret")
    stale = await call_back(url, done, secret, timestamp=int(time.time()) - 301)
    async with httpx.AsyncClient() as client:
        unsigned = await client.post(url, json=done)
    assert [forged.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
    assert "signature does not match" in forged.json()["error"]
    assert "5 minutes" in stale.json()["error"]

    unknown = await call_back(url[:-1] + ("0" if url[-1] != "0" else "1"), done, secret)
    assert unknown.status_code == 404
    malformed = await call_back(url, {"status": "finished"}, secret)
    assert malformed.status_code == 400
    assert 'status must be "done" or "failed"' in malformed.json()["error"]
    not_json = await call_back(url, b"{nope", secret)
    assert not_json.status_code == 400

    await hooks.settle()
    rows = await hooks.steps("provision-1")
    assert rows["accounts"].state == "ready"
    assert rows["accounts"].output == {}
    assert await audit_count(hooks, "step.complete") == 0

    genuine = await call_back(url, {"status": "failed", "message": "Seat limit reached"}, secret)
    assert genuine.status_code == 200
    await hooks.settle()
    assert (await hooks.steps("provision-1"))["accounts"].state == "failed"
    assert "Seat limit reached" in str(hooks.dm_for("U0BOB").blocks)


async def test_a_second_callback_gets_409(hooks: Stack, receiver: Receiver) -> None:
    receiver.script("okta", (202, {}))
    secret = await start_provision(hooks, receiver)
    await hooks.sweep()
    url = receiver.calls("okta")[0].json["callback_url"]

    first = await call_back(url, {"status": "done", "output": {"login": "ana"}}, secret)
    again = await call_back(url, {"status": "done", "output": {"login": "bob"}}, secret)
    failed = await call_back(url, {"status": "failed", "message": "oops"}, secret)
    assert first.status_code == 200
    assert [again.status_code, failed.status_code] == [409, 409]
    assert "already done" in again.json()["error"]

    await hooks.settle()
    rows = await hooks.steps("provision-1")
    assert rows["accounts"].state == "done"
    assert rows["accounts"].output == {"login": "ana"}
    assert await audit_count(hooks, "step.complete") == 1
    assert not [m for m in hooks.emulator.dm("U0BOB") if m.buttons]


async def test_private_addresses_are_refused_without_the_setting(
    stack: Stack, receiver: Receiver
) -> None:
    for url, why in [
        (receiver.url("okta"), "a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "a link-local address"),
        ("http://10.1.2.3/hook", "a private address"),
        ("http://localhost:8080/", "a loopback address"),
        ("ftp://example.com/", "must start with http:// or https://"),
    ]:
        await stack.command(f"hook add okta <{url}>", user="U0DAVE")
        assert why in stack.ephemeral("U0DAVE"), url
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        assert (await session.exec(select(Integration))).all() == []
    assert receiver.requests == []


async def test_the_guard_is_checked_again_on_every_call(hooks: Stack, receiver: Receiver) -> None:
    await start_provision(hooks, receiver)
    hooks.baton.runtime.settings.BATON_HOOK_ALLOW_PRIVATE = False  # an operator turned it off
    await hooks.sweep()

    assert receiver.requests == []
    assert (await hooks.steps("provision-1"))["accounts"].state == "failed"
    assert "resolves to 127.0.0.1, a loopback address" in hooks.dm_for("U0BOB").text


# -- durability: restarts, crashes mid-call, replicas, stale callback URLs -------------------


async def test_the_retry_schedule_survives_a_restart(database_url: str, receiver: Receiver) -> None:
    receiver.script("okta", (503, {}), (200, {"status": "done", "output": {"login": "ana"}}))
    settings = {"BATON_HOOK_ALLOW_PRIVATE": True}
    async with open_stack(database_url, public_url=True, **settings) as first:
        await start_provision(first, receiver)
        await first.sweep()
    assert len(receiver.calls("okta")) == 1

    async with open_stack(
        database_url, public_url=True, **settings
    ) as second:  # a new process, same database
        await second.sweep()
        assert len(receiver.calls("okta")) == 1  # the next try is still a minute away
        await second.sweep(timedelta(minutes=1))
        assert (await second.steps("provision-1"))["accounts"].state == "done"
    keys = {r.headers["idempotency-key"] for r in receiver.calls("okta")}
    assert len(receiver.calls("okta")) == 2
    assert len(keys) == 1


async def test_a_call_lost_mid_flight_is_made_again_after_its_lease(
    hooks: Stack, receiver: Receiver
) -> None:
    await start_provision(hooks, receiver)
    runtime = hooks.baton.runtime
    # A replica claims the call and dies before making it.
    [lost] = await calls.claim_due(runtime, hooks.clock.now())
    await hooks.sweep(calls.LEASE - timedelta(seconds=1))
    assert receiver.requests == []  # the lease still holds

    await hooks.sweep(timedelta(seconds=1))
    [received] = receiver.calls("okta")
    assert received.headers["idempotency-key"] == lost.idempotency_key
    assert (await hooks.steps("provision-1"))["accounts"].state == "done"


async def test_two_replicas_sweeping_at_once_call_once(hooks: Stack, receiver: Receiver) -> None:
    receiver.script("okta", (200, {"status": "done", "output": {"login": "ana"}}))
    await start_provision(hooks, receiver)
    for _ in range(5):
        await hooks.command("run provision", user="U0BOB")
    replica = create_app(hooks.baton.runtime.settings, clock=hooks.clock, channel_interval=0.0)
    try:
        await asyncio.gather(hooks.baton.sweeper.sweep(), replica.sweeper.sweep())
    finally:
        await replica.runtime.engine.dispose()
    await hooks.settle()
    called = sorted(r.json["run"]["id"] for r in receiver.calls("okta"))
    assert called == [f"provision-{n}" for n in range(1, 7)]  # each run's step exactly once
    assert await audit_count(hooks, "step.complete") == 6


async def test_a_callback_from_before_a_retry_gets_409(hooks: Stack, receiver: Receiver) -> None:
    receiver.script("okta", (202, {}))
    secret = await start_provision(hooks, receiver)
    await hooks.sweep()
    old_url = receiver.calls("okta")[0].json["callback_url"]
    failed = await call_back(old_url, {"status": "failed", "message": "quota"}, secret)
    assert failed.status_code == 200
    await hooks.settle()
    await hooks.driver.click(hooks.dm_for("U0BOB"), user="U0BOB", text="Retry")
    await hooks.settle()
    await hooks.sweep()
    new_url = receiver.calls("okta")[1].json["callback_url"]
    assert new_url != old_url

    stale = await call_back(old_url, {"status": "done"}, secret)
    assert stale.status_code == 409
    assert "retried since" in stale.json()["error"]
    fresh = await call_back(new_url, {"status": "done", "output": {"login": "ana"}}, secret)
    assert fresh.status_code == 200
    await hooks.settle()
    assert (await hooks.steps("provision-1"))["welcome"].title == "Welcome ana"


LATE_ANSWERS = [
    pytest.param((200, {"status": "done", "output": {"login": "late"}}), id="done"),
    pytest.param((422, {"error": "late"}), id="failed"),
]


@pytest.mark.parametrize("late", LATE_ANSWERS)
async def test_an_answer_after_the_lease_was_taken_over_changes_nothing(
    hooks: Stack, receiver: Receiver, late: tuple[int, Any]
) -> None:
    await start_provision(hooks, receiver)
    runtime = hooks.baton.runtime
    # A replica claims the call and stalls past its lease; another one takes the call over.
    [stalled] = await calls.claim_due(runtime, hooks.clock.now())
    hooks.clock.advance(calls.LEASE)
    [current] = await calls.claim_due(runtime, hooks.clock.now())
    assert current.idempotency_key == stalled.idempotency_key
    assert current.lease_until > stalled.lease_until

    receiver.script("okta", late)
    await calls.call(runtime, stalled)  # the stalled replica makes its call and hears back
    await hooks.settle()
    rows = await hooks.steps("provision-1")
    assert (rows["accounts"].state, rows["accounts"].output) == ("ready", {})
    assert rows["welcome"].state == "waiting"
    assert await audit_count(hooks, "step.complete") == 0
    assert await audit_count(hooks, "step.fail") == 0
    assert not any("`accounts`" in text for text in thread_texts(hooks))
    assert not [m for m in hooks.emulator.dm("U0BOB") if m.buttons]

    # The replica holding the lease decides the step.
    receiver.script("okta", (200, {"status": "done", "output": {"login": "ana"}}))
    await calls.call(runtime, current)
    await hooks.settle()
    rows = await hooks.steps("provision-1")
    assert (rows["accounts"].state, rows["accounts"].output) == ("done", {"login": "ana"})
    assert rows["welcome"].title == "Welcome ana"
    assert await audit_count(hooks, "step.complete") == 1
    await hooks.sweep(calls.LEASE * 2)
    assert len(receiver.calls("okta")) == 2  # the call is over: nobody makes it again


async def test_an_outcome_lost_before_commit_keeps_the_lease_and_is_called_again(
    hooks: Stack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.script("okta", (200, {"status": "done", "output": {"login": "ana"}}))
    await start_provision(hooks, receiver)
    applied: list[bool] = []

    async def dies_after(*args: Any) -> bool:
        applied.append(await original(*args))  # the step is done in the transaction...
        raise RuntimeError("...and the process dies before it commits")

    original = outcomes.apply_complete
    monkeypatch.setattr(outcomes, "apply_complete", dies_after)
    await hooks.sweep()
    monkeypatch.undo()
    assert applied == [True]
    # Neither the outcome nor the end of the call was kept: the lease still holds the call.
    assert (await hooks.steps("provision-1"))["accounts"].state == "ready"
    assert await audit_count(hooks, "step.complete") == 0
    await hooks.sweep(calls.LEASE - timedelta(seconds=1))
    assert len(receiver.calls("okta")) == 1

    await hooks.sweep(timedelta(seconds=1))  # the lease ran out: called again, same request
    received = receiver.calls("okta")
    assert len(received) == 2
    assert received[0].headers["idempotency-key"] == received[1].headers["idempotency-key"]
    rows = await hooks.steps("provision-1")
    assert (rows["accounts"].state, rows["welcome"].title) == ("done", "Welcome ana")
    assert await audit_count(hooks, "step.complete") == 1
    assert sum("Completed `accounts`" in text for text in thread_texts(hooks)) == 1


# -- the admin commands ------------------------------------------------------------------------


async def test_hook_commands_are_for_admins_and_never_show_secrets_again(
    hooks: Stack, receiver: Receiver
) -> None:
    await hooks.command(f"hook add okta <{receiver.url('okta')}>", user="U0ALICE")
    assert "Only workspace admins" in hooks.ephemeral("U0ALICE")

    secret = await add_hook(hooks, "okta", receiver.url("okta"))
    shown = hooks.ephemeral("U0DAVE")
    assert "shown only this once" in shown
    assert "hmac.compare_digest" in shown
    async with unit_of_work(hooks.baton.runtime.sessions) as session:
        row = (await session.exec(select(Integration))).one()
    assert row.secret.startswith("fernet:")  # BATON_SECRET_KEY is set: stored encrypted
    assert secret not in row.secret

    await hooks.command(f"hook add okta <{receiver.url('other')}>", user="U0DAVE")
    assert "already an integration named `okta`" in hooks.ephemeral("U0DAVE")

    await hooks.command("hook list", user="U0DAVE")
    listed = hooks.ephemeral("U0DAVE")
    assert "`okta`" in listed
    assert receiver.url("okta") in listed
    assert secret not in listed
    assert all(secret not in m.text for m in hooks.emulator.ephemerals("U0DAVE")[-2:])

    receiver.script("okta", (200, {"pong": True}))
    await hooks.command("hook test okta", user="U0DAVE")
    assert "it answered 200" in hooks.ephemeral("U0DAVE")
    [ping] = receiver.calls("okta")
    assert ping.json["event"] == "ping"
    assert ping.headers["x-baton-signature"] == expected_signature(secret, ping)

    await hooks.command("hook remove okta", user="U0DAVE")
    assert "Removed integration `okta`" in hooks.ephemeral("U0DAVE")
    await hooks.command("hook test okta", user="U0DAVE")
    assert "There is no integration named `okta`" in hooks.ephemeral("U0DAVE")
    await hooks.command("hook frobnicate", user="U0DAVE")
    assert "Usage: `/baton hook add" in hooks.ephemeral("U0DAVE")


async def test_callback_schema_is_served(hooks: Stack) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{hooks.url}/hooks/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert "/hooks/callback/{token}" in schema["paths"]


# -- fuzzing the callback endpoint from its OpenAPI schema ------------------------------------

FUZZ_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def fuzz_callbacks(
    base_url: str,
    *,
    mode: GenerationMode,
    token: str | None = None,
    secret: str | None = None,
    examples: int = 150,
) -> list[int]:
    """Send schemathesis' generated callbacks (signed as the integration would, when given a
    secret) and check each answer against the schema; returns the status codes seen."""
    schema = schemathesis.openapi.from_dict(CALLBACK_OPENAPI)
    operation = schema["/hooks/callback/{token}"]["POST"]
    fixed = {"token": token} if token else None
    seen: list[int] = []
    client = httpx.Client()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode, path_parameters=fixed))
    def send(case: schemathesis.Case[Any]) -> None:
        sent = case.as_transport_kwargs(base_url=base_url)
        body = json.dumps(sent["json"]).encode() if "json" in sent else sent.get("data") or b""
        headers = {k: v for k, v in sent["headers"].items() if k.lower() != "content-length"}
        if secret is not None:
            stamp = int(time.time())
            mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
            headers |= {
                "X-Baton-Timestamp": str(stamp),
                "X-Baton-Signature": f"v1={mac.hexdigest()}",
            }
        try:
            request = httpx.Request("POST", sent["url"], content=body, headers=headers)
        except (UnicodeEncodeError, httpx.LocalProtocolError):
            reject()  # a header no HTTP client can send
        response = client.send(request)
        seen.append(response.status_code)
        case.validate_response(response, checks=FUZZ_CHECKS)

    with client:
        send()
    return seen


async def test_fuzzed_callbacks_never_get_a_500(hooks: Stack, receiver: Receiver) -> None:
    receiver.script("okta", (202, {}))
    secret = await start_provision(hooks, receiver)
    await hooks.sweep()
    token = receiver.calls("okta")[0].json["callback_url"].rsplit("/", 1)[1]

    anyone = await asyncio.to_thread(fuzz_callbacks, hooks.url, mode=GenerationMode.NEGATIVE)
    anyone += await asyncio.to_thread(fuzz_callbacks, hooks.url, mode=GenerationMode.POSITIVE)
    assert set(anyone) <= {401, 404}  # without the secret nothing gets further
    signed = await asyncio.to_thread(
        fuzz_callbacks, hooks.url, mode=GenerationMode.NEGATIVE, token=token, secret=secret
    )
    signed += await asyncio.to_thread(
        fuzz_callbacks, hooks.url, mode=GenerationMode.POSITIVE, token=token, secret=secret
    )
    assert 400 in signed and 200 in signed and 409 in signed
    assert signed.count(200) == 1  # the first valid report wins; the rest change nothing
    await hooks.settle()
    assert (await hooks.steps("provision-1"))["accounts"].state in ("done", "failed")
