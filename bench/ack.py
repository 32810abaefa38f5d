"""How fast Baton acknowledges Slack, against a bare Bolt app that acks at once.

Three processes, so that no side's CPU shows up in another's figures:
- this one plays Slack: the emulator (Web API and response URLs) and the driver that builds
  signed request bodies from what the emulator recorded;
- a server: Baton's own web app (`create_app` on uvicorn via `start_server`, SQLite file), or
  a bare Bolt `AsyncApp` whose listeners only ack, served by the same Starlette routes;
- a load generator that fires prepared bodies and times each one until its answer arrives.

Load: 50 people in 50 channels act at the same moment (one burst of 50 concurrent requests),
Baton finishes what they caused (listeners and deliveries), and the next burst goes. The same
bodies go to both apps, in alternating order round by round, so drift hits both alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.processes import Child, running, until_told
from bench.table import Row
from bot.app.composition import create_app
from bot.app.server import start_server
from bot.app.settle import settle
from bot.app.web import build_web, slack_routes
from bot.config import Settings
from bot.core.errors import NotFound
from bot.slack.ids import ActionId, StepRef
from bot.slack_emulator import Channel, Message, SlackDriver, SlackEmulator, User

SECRET = "bench-signing-secret"
TOKEN = "xoxb-emulator"
CLIENTS = 50
ROUNDS = 20  # measured bursts per command and app (plus one warm-up)
KEPT = 0.5  # the share of each app's bursts kept (see _calm)
MEDIAN_TARGET = 1.3
P99_TARGET = 1.5
WORKFLOW = "define bench Benchmark run\nfirst: First step\nsecond: Second step after first"

PEOPLE = tuple(
    User(f"U0P{i:02d}", f"person{i:02d}", real_name=f"Person {i}", tz="Europe/Berlin")
    for i in range(CLIENTS)
)
ROOMS = tuple(Channel(f"C0ROOM{i:02d}", f"room-{i:02d}", (PEOPLE[i].id,)) for i in range(CLIENTS))

Prepared = tuple[bytes, dict[str, str]]


# -- the server processes ------------------------------------------------------------------


def settings_for(api_url: str, database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=api_url,
        BATON_DATABASE_URL=database_url,
        BATON_TICK_SECONDS=3600,
    )


async def serve_until_told(app: Any, conn: Connection) -> None:
    served = await start_server(app)
    conn.send(served.port)
    await until_told(conn)
    await served.stop()


async def _baton(api_url: str, database_url: str, conn: Connection) -> None:
    # No pacing wait: every channel here gets one message per burst, and the deliverer then
    # does all its work while the next acks are measured, the harder case for Baton.
    baton = create_app(settings_for(api_url, database_url), channel_interval=0.0)

    async def settled(_: Request) -> Response:
        await settle(baton.runtime, baton.deliverer)
        return JSONResponse({"ok": True})

    # Only the benchmark's driver calls this; Slack's route is served exactly as in production.
    baton.web.router.routes.append(Route("/bench/settle", settled, methods=["POST"]))
    await serve_until_told(baton.web, conn)


async def _bare(api_url: str, conn: Connection) -> None:
    bolt = AsyncApp(
        client=AsyncWebClient(token=TOKEN, base_url=api_url),
        signing_secret=SECRET,
        raise_error_for_unhandled_request=False,
    )

    async def ack_only(ack: Callable[[], Awaitable[None]]) -> None:
        await ack()

    bolt.command("/baton")(ack_only)
    bolt.action(ActionId.DONE.value)(ack_only)

    async def nothing() -> None:
        return None

    await serve_until_told(
        build_web(slack_routes(bolt, SECRET), on_start=nothing, on_stop=nothing), conn
    )


def serve_baton(api_url: str, database_url: str, conn: Connection) -> None:
    asyncio.run(_baton(api_url, database_url, conn))


def serve_bare(api_url: str, conn: Connection) -> None:
    asyncio.run(_bare(api_url, conn))


# -- the load generator process -------------------------------------------------------------


async def _burst(session: aiohttp.ClientSession, url: str, requests: list[Prepared]) -> list[float]:
    async def one(body: bytes, headers: dict[str, str]) -> float:
        started = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")
        return time.perf_counter() - started

    return list(await asyncio.gather(*(one(body, headers) for body, headers in requests)))


async def _generate(conn: Connection) -> None:
    # uvicorn closes a connection idle for 5 s; reusing one it is closing fails the burst
    # ("Server disconnected"), so the pool drops its connections sooner.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=3)
    async with aiohttp.ClientSession(connector=connector) as session:
        while True:
            order = await asyncio.to_thread(conn.recv)
            if order is None:
                return
            url, requests = order
            conn.send(await _burst(session, url, requests))


def generate_load(conn: Connection) -> None:
    asyncio.run(_generate(conn))


# -- this process: Slack ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def server(target: Callable[..., None], *args: object) -> AsyncIterator[str]:
    async with running(target, *args) as child:
        port = await child.answer()
        yield f"http://127.0.0.1:{port}"


def _capturing_driver(emulator: SlackEmulator, url: str) -> SlackDriver:
    """A driver that builds and signs each request but hands it back instead of sending it."""

    def accept(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(accept))
    return SlackDriver(url, SECRET, emulator, client=client)


async def _prepare(driver: SlackDriver, send: Awaitable[httpx.Response]) -> Prepared:
    await send
    request = driver.last_request
    assert request is not None
    wanted = ("x-slack-", "content-type")
    headers = {k: v for k, v in request.headers.items() if k.lower().startswith(wanted)}
    return request.content, headers


@dataclass
class Samples:
    """Every burst's latencies, per app."""

    bare: list[list[float]] = field(default_factory=list)
    baton: list[list[float]] = field(default_factory=list)


def _calm(bursts: list[list[float]]) -> list[float]:
    """The latencies of an app's least disturbed half of its bursts.

    On a shared machine other processes take the CPU in the middle of a burst, and every answer
    in it then comes late by the same 20 to 200 ms; a pooled median and p99 would measure them,
    not Baton. As with `timeit`'s best-of, noise only ever adds time, so each app's fastest half
    of bursts (by their median) shows its own cost, and the two are set aside alike. A cost of
    Baton's own is in every burst, so it stays in the figures.
    """
    medians = sorted(statistics.median(burst) for burst in bursts)
    limit = medians[max(0, math.ceil(len(medians) * KEPT) - 1)]
    return [x for burst in bursts if statistics.median(burst) <= limit for x in burst]


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


class AckBench:
    def __init__(self, emulator: SlackEmulator, baton_url: str, bare_url: str, load: Child):
        self.emulator = emulator
        self.baton_url = baton_url
        self.bare_url = bare_url
        self.load = load
        self.builder = _capturing_driver(emulator, baton_url)
        self.http = httpx.AsyncClient(timeout=60)
        self.clicked: set[str] = set()

    async def aclose(self) -> None:
        await self.builder.aclose()
        await self.http.aclose()

    async def settle(self) -> None:
        response = await self.http.post(f"{self.baton_url}/bench/settle")
        response.raise_for_status()

    async def command(self, text: str) -> list[Prepared]:
        return [
            await _prepare(self.builder, self.builder.command(text, user=p.id, channel=r.id))
            for p, r in zip(PEOPLE, ROOMS, strict=True)
        ]

    async def clicks(self) -> list[Prepared]:
        """Each person clicks Done on their oldest `first` step not clicked yet."""
        prepared = []
        for person in PEOPLE:
            message = self._next_first_step(person)
            self.clicked.add(message.ts)
            send = self.builder.click(message, user=person.id, action_id=ActionId.DONE.value)
            prepared.append(await _prepare(self.builder, send))
        return prepared

    def _next_first_step(self, person: User) -> Message:
        for message in self.emulator.dm(person.id):
            if message.ts in self.clicked:
                continue
            for ref in message.buttons:
                if ref.action_id == ActionId.DONE and _step_of(ref.element) == "first":
                    return message
        raise LookupError(f"{person.id} has no `first` step left to click")

    async def round(self, index: int, requests: list[Prepared], samples: Samples) -> None:
        async def bare() -> None:
            samples.bare.append(await self.load.ask((f"{self.bare_url}/slack/events", requests)))

        async def baton() -> None:
            samples.baton.append(await self.load.ask((f"{self.baton_url}/slack/events", requests)))
            await self.settle()

        for side in (bare, baton) if index % 2 == 0 else (baton, bare):
            await side()

    async def measure(
        self, prepare: Callable[[], Awaitable[list[Prepared]]], rounds: int
    ) -> Samples:
        samples = Samples()
        await self.round(0, await prepare(), Samples())  # warm-up: connections, caches
        for index in range(rounds):
            await self.round(index, await prepare(), samples)
        return samples


def _step_of(element: dict[str, Any]) -> str | None:
    try:
        return StepRef.decode(str(element.get("value", ""))).step
    except NotFound:  # a button that names no step
        return None


def _rows(label: str, samples: Samples) -> list[Row]:
    ms = 1000.0
    bare, baton = _calm(samples.bare), _calm(samples.baton)
    return [
        Row.of(
            f"ack {label}, median",
            statistics.median(baton) * ms,
            statistics.median(bare) * ms,
            MEDIAN_TARGET,
        ),
        Row.of(
            f"ack {label}, p99",
            _p99(baton) * ms,
            _p99(bare) * ms,
            P99_TARGET,
        ),
    ]


async def run(rounds: int = ROUNDS) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as folder:
        database_url = f"sqlite:///{Path(folder) / 'baton.db'}"
        async with (
            SlackEmulator(users=PEOPLE, channels=ROOMS) as emulator,
            running(generate_load) as load,
            server(serve_baton, emulator.api_url, database_url) as baton_url,
            server(serve_bare, emulator.api_url) as bare_url,
        ):
            bench = AckBench(emulator, baton_url, bare_url, load)
            try:
                return await _measure_all(bench, rounds)
            finally:
                await bench.aclose()


async def _measure_all(bench: AckBench, rounds: int) -> list[Row]:
    async with SlackDriver(bench.baton_url, SECRET, bench.emulator) as driver:
        response = await driver.command(WORKFLOW, user=PEOPLE[0].id, channel=ROOMS[0].id)
        response.raise_for_status()
    await bench.settle()

    async def runs() -> list[Prepared]:
        return await bench.command("run bench")

    async def status() -> list[Prepared]:
        return await bench.command("status")

    started = await bench.measure(runs, rounds)
    statuses = await bench.measure(status, rounds)
    done = await bench.measure(bench.clicks, rounds)
    _check_work_done(bench.emulator, rounds + 1)
    return [
        *_rows("/baton status", statuses),
        *_rows("/baton run", started),
        *_rows("Done click", done),
    ]


def _check_work_done(emulator: SlackEmulator, runs_each: int) -> None:
    """The acks were not empty promises: every run got its card, every click its next step."""
    for person, room in zip(PEOPLE, ROOMS, strict=True):
        cards = [m for m in emulator.messages(room.id) if not m.is_reply]
        seconds = [m for m in emulator.dm(person.id) if "Second step" in m.text]
        if len(cards) != runs_each or len(seconds) != runs_each:
            raise RuntimeError(
                f"{room.id}: {len(cards)} run cards, {person.id}: {len(seconds)} second steps; "
                f"expected {runs_each} of each"
            )


if __name__ == "__main__":
    from bench.table import format_table

    print(format_table(asyncio.run(run())))
