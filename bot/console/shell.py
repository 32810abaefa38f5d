"""The console's shell: what one typed line does, as something a person does in Slack (a slash
command, a click, a modal filled in) or a console instruction (switch user or channel, let
time pass). After each, it waits until Baton has settled and prints everything that changed in
the workspace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import httpx

from bot.app.composition import Baton
from bot.app.server import RunningServer
from bot.app.settle import settle
from bot.console.errors import ConsoleError
from bot.console.feed import Feed
from bot.console.forms import field_value, find_field
from bot.console.mrkdwn import Reader
from bot.console.names import Names
from bot.console.screen import Clickable, Screen, modal_fields
from bot.console.seed import import_sample
from bot.console.timeline import earlier_session, next_due
from bot.console.typed_text import escape_typed
from bot.console.waiting import WAIT_USAGE, WaitError, wait_target
from bot.core.clock import ManualClock
from bot.slack_emulator import ApiError, Change, SlackDriver, SlackEmulator, View, Workspace
from bot.slack_emulator.payloads import element_value

FIRST_USER: Final = "U0ALICE"
FIRST_CHANNEL: Final = "C0ONBOARD"
SETTLE_SECONDS: Final = 30.0
# A long wait stops at each due moment; this bounds the stops of one `wait`.
MAX_STOPS: Final = 1000
# Sweeps at one moment, while each finds more to do.
MAX_PASSES: Final = 20

HELP: Final = """\
You act as one person in one channel of a Slack workspace that runs Baton.
  /baton <command>          a slash command (`/baton help` lists Baton's); @name and #channel
                            become Slack mentions. End a line with \\ to go on with the next
                            (`/baton define` takes its steps on the lines after the first).
  click <n>                 press the button shown as [n] most recently
  fill <field> <text>       type into (or pick, with @name or #channel) a field of your open
                            modal; `submit` sends it, `close` dismisses it
  as @<name>                become someone else: @alice, @bob, @carol, @dave (an admin)
  in #<channel> | in dm     type commands in #general, #onboarding, #ops, or your DM with Baton
  read [#channel | dm] [n]  the last n messages (default 5) there, buttons numbered afresh
  home                      open your App Home
  wait <duration>           let time pass: 30m, 2h, 1d 4h, 1w; reminders, escalations,
  wait until [day] HH:MM    scheduled runs and digests fire at their moments (day: mon…sun,
                            today, tomorrow or YYYY-MM-DD; the time is in your own zone)
  time                      what time it is for you
  help | quit
People: @alice (HR, Berlin), @bob and @carol (@it-team, New York and Tokyo), @dave (admin,
London). Lines starting with # are comments."""


Action = Callable[[Screen, str], Awaitable[None]]


class Console:
    def __init__(
        self,
        emulator: SlackEmulator,
        baton: Baton,
        server: RunningServer,
        driver: SlackDriver,
        clock: ManualClock,
    ) -> None:
        self.emulator = emulator
        self.baton = baton
        self.server = server
        self.driver = driver
        self.clock = clock
        self.user = FIRST_USER
        self.channel = FIRST_CHANNEL
        self.intro = ""
        self.names = Names(emulator)
        self.feed = Feed(emulator, self.names)
        self._buttons: list[Clickable] = []
        self._filled: dict[str, dict[str, Any]] = {}  # view id -> {block_id: value}
        self._actions: dict[str, Action] = {
            "click": self._click,
            "fill": self._fill,
            "submit": self._submit,
            "close": self._close,
            "as": self._as,
            "in": self._in,
            "read": self._read,
            "home": self._home,
            "wait": self._wait,
            "time": self._time,
            "help": self._help,
        }

    @property
    def workspace(self) -> Workspace:
        return self.emulator.workspace()

    @property
    def prompt(self) -> str:
        return f"{self.names.person(self.user).name} {self._where_typing()}> "

    @property
    def stopped(self) -> bool:
        """True once Baton's web app has stopped (e.g. on Ctrl-C)."""
        return self.server.task.done()

    async def begin(self, *, database: Path, sample: bool) -> None:
        """Greet: the database in use, what an earlier session left, the sample workflow
        (imported when `sample` and never imported before) and where you are."""
        lines = [
            "Baton console: Baton with a Slack workspace emulated on this machine.",
            f"Database: {database}. Business time moves only when you `wait`.",
        ]
        team_id = self.workspace.team_id
        earlier = await earlier_session(self.baton.runtime, team_id=team_id)
        if earlier.latest is not None and earlier.latest > self.clock.now():
            self.clock.set(earlier.latest)  # time never runs backwards for the runs kept
        if earlier.active_runs:
            lines.append(
                f"The database holds {earlier.active_runs} active run(s) from an earlier "
                "session. Their Slack messages were not kept (the emulated Slack starts "
                "empty), so Baton cannot update those; `--fresh` starts over."
            )
        if sample:
            owner = self.names.person(FIRST_USER)
            name = await import_sample(self.baton.runtime, team_id=team_id, owner_id=owner.id)
            if name is not None:
                lines.append(
                    f"Imported the sample workflow `{name}` (bot/console/sample.yml), "
                    f"owned by @{owner.name}."
                )
            lines.append(
                "Try: /baton show onboarding · /baton run onboarding hire=Erin manager=@dave"
            )
        lines.append("`help` lists what you can do here; `/baton help` lists Baton's commands.")
        await self._settled(Screen(self._reader()))
        self.feed.clear()
        screen = Screen(self._reader())
        self._say_whereabouts(screen)
        self.intro = "\n".join(lines) + "\n" + screen.text()

    async def execute(self, line: str) -> str:
        """Do what one (possibly multi-line) input says; return what to print."""
        text = line.strip()
        screen = Screen(self._reader())
        if not text or text.startswith("#"):
            return ""
        word, _, rest = text.partition(" ")
        try:
            if word == "/baton":
                await self._slash(screen, rest.strip())
            elif word.startswith("/"):
                raise ConsoleError(f"`{word}` is not installed here; Baton's command is `/baton`.")
            elif word.lower() in self._actions:
                await self._actions[word.lower()](screen, rest.strip())
            else:
                raise ConsoleError(
                    f"`{word}` is not something the console knows. `help` lists what you can "
                    "do; `/baton help` lists Baton's commands."
                )
        except ConsoleError as problem:
            screen.say(str(problem))
        except (LookupError, ValueError, ApiError, httpx.HTTPError) as problem:
            # What the emulated Slack refused, or Baton not answering: say so, keep going.
            screen.say(f"That did not work: {problem}")
        if screen.buttons:
            self._buttons = screen.buttons
        return screen.text()

    # -- acting in Slack ------------------------------------------------------------------------

    async def _slash(self, screen: Screen, text: str) -> None:
        typed = escape_typed(text, self.workspace)
        response = await self.driver.command(typed, user=self.user, channel=self.channel)
        self._check(response, "the command")
        await self._after(screen)

    async def _click(self, screen: Screen, rest: str) -> None:
        if not self._buttons:
            raise ConsoleError("No buttons have been shown yet.")
        if not rest.isdigit() or not 1 <= int(rest) <= len(self._buttons):
            raise ConsoleError(f"Usage: click <n>, n from 1 to {len(self._buttons)}.")
        button = self._buttons[int(rest) - 1]
        if button.seen_by is not None and button.seen_by != self.user:
            owner = self.names.person(button.seen_by).name
            raise ConsoleError(
                f"Only @{owner} sees button [{rest}] ({button.where}). Type `as @{owner}` first."
            )
        target = button.target
        if isinstance(target, View):
            if target.closed:
                raise ConsoleError("That modal is closed.")
            present = [(b.block_id, b.action_id) for b in target.buttons]
            if (button.ref.block_id, button.ref.action_id) not in present:
                raise ConsoleError("That button is no longer there: `home` shows the page afresh.")
        screen.say(f"(@{self.names.person(self.user).name} clicks “{button.ref.text}”)")
        response = await self.driver.click(
            target, user=self.user, action_id=button.ref.action_id, block_id=button.ref.block_id
        )
        self._check(response, "the click")
        await self._after(screen)

    async def _fill(self, screen: Screen, rest: str) -> None:
        view = self._open_modal()
        key, _, value = rest.partition(" ")
        if not key:
            raise ConsoleError("Usage: fill <field> <text>")
        field = find_field(view, key)
        chosen = field_value(field, value.strip(), self.names)
        try:
            element_value(field.ref.element, chosen)
        except ValueError as problem:
            raise ConsoleError(str(problem)) from None
        self._filled.setdefault(view.id, {})[field.ref.block_id] = chosen
        screen.say(f"{field.label}: {value.strip() or '(empty)'}. `submit` sends the form.")

    async def _submit(self, screen: Screen, rest: str) -> None:
        view = self._open_modal()
        filled = self._filled.get(view.id, {})
        values = {
            ref.block_id: {ref.action_id: filled[ref.block_id]}
            for ref in (f.ref for f in modal_fields(view))
            if ref.block_id in filled
        }
        response = await self.driver.submit_view(view, user=self.user, values=values)
        self._check(response, "the form")
        if view.closed:
            self._filled.pop(view.id, None)
        await self._after(screen)

    async def _close(self, screen: Screen, rest: str) -> None:
        view = self._open_modal()
        await self.driver.close_view(view, user=self.user)
        self._filled.pop(view.id, None)
        await self._after(screen)

    async def _home(self, screen: Screen, rest: str) -> None:
        response = await self.driver.app_home_opened(self.user)
        self._check(response, "opening the App Home")
        shown = await self._after(screen)
        if any(
            isinstance(change.item, View) and change.item.user_id == self.user
            for change in shown
            if change.kind == "home"
        ):
            return
        home = self.emulator.home(self.user)
        if home is None:
            screen.say(f"Baton has not published an App Home for @{self.names.name(self.user)}.")
        else:
            screen.view(self.feed.view_header("home", home), home, {})

    # -- console instructions -------------------------------------------------------------------

    async def _as(self, screen: Screen, rest: str) -> None:
        user = self.names.find_user(rest.strip())
        if user is None:
            people = ", ".join(f"@{u.name}" for u in self.names.people())
            raise ConsoleError(f"Who is `{rest}`? The people here: {people}.")
        self.user = user.id
        conversation = self.workspace.conversation(self.channel)
        if conversation is not None and conversation.kind == "im":
            self.channel = self.workspace.open_dm(user.id).id  # their own DM with Baton
        elif conversation is None or user.id not in conversation.members:
            self.channel = "C0GENERAL"
        self._say_whereabouts(screen)

    async def _in(self, screen: Screen, rest: str) -> None:
        target = rest.strip()
        if target.lower() in ("dm", "@baton"):
            self.channel = self.workspace.open_dm(self.user).id
        else:
            conversation = self.workspace.conversation(target.removeprefix("#").lower())
            if conversation is None or conversation.kind != "channel":
                channels = ", ".join(f"#{name}" for name in self.names.channels())
                raise ConsoleError(f"Which channel? Here are {channels}, and `dm`.")
            if self.user not in conversation.members:
                raise ConsoleError(
                    f"@{self.names.name(self.user)} is not in #{conversation.name}; "
                    f"its members are {self.names.names(conversation.members)}."
                )
            self.channel = conversation.id
        self._say_whereabouts(screen)

    async def _read(self, screen: Screen, rest: str) -> None:
        words = rest.split()
        count = int(words.pop()) if words and words[-1].isdigit() else 5
        where = words[0] if words else self.channel
        if where.lower() == "dm":
            where = self.workspace.open_dm(self.user).id
        conversation = self.workspace.conversation(where.removeprefix("#").lower() or where)
        conversation = conversation or self.workspace.conversation(where)
        if conversation is None:
            raise ConsoleError(f"There is no channel `{where}`.")
        if conversation.kind == "im" and conversation.name != self.user:
            raise ConsoleError("You can read only your own DM with Baton: `read dm`.")
        messages = self.emulator.messages(conversation.id)[-count:]
        if not messages:
            screen.say(f"Nothing in {self.names.place(conversation.id)} yet.")
        for message in messages:
            screen.message(
                self.feed.message_header("message", message, viewer=self.user),
                message,
                seen_by=self.names.seen_by(message),
            )

    async def _wait(self, screen: Screen, rest: str) -> None:
        zone = self.names.zone(self.user)
        try:
            target = wait_target(rest, self.clock.now(), zone)
        except WaitError as problem:
            raise ConsoleError(str(problem) if rest else f"Usage: {WAIT_USAGE}") from None
        await self._sweep(screen, stamp=False)  # anything already due goes first
        for _ in range(MAX_STOPS):
            moment = await next_due(self.baton.runtime, after=self.clock.now())
            if moment is None or moment >= target:
                break
            self.clock.set(moment)
            await self._sweep(screen, stamp=True)
        self.clock.set(target)
        await self._sweep(screen, stamp=True)
        screen.say(f"It is now {self._clock_text(self.user)}.")

    async def _time(self, screen: Screen, rest: str) -> None:
        screen.say(f"It is {self._clock_text(self.user)}.")

    async def _help(self, screen: Screen, rest: str) -> None:
        screen.say(HELP)

    # -- after each action: settle and show what changed ----------------------------------------

    async def _after(self, screen: Screen) -> list[Change]:
        await self._settled(screen)
        return self.feed.show(screen, viewer=self.user, filled=self._filled)

    async def _sweep(self, screen: Screen, *, stamp: bool) -> None:
        # A handler may make more work due at once (a wait step finishing readies a hook call).
        for _ in range(MAX_PASSES):
            if not await self.baton.sweeper.sweep():
                break
            await self._settled(screen)
        await self._settled(screen)
        if self.feed.pending and stamp:
            screen.say(f"── {self._clock_text(self.user)} ──")
        self.feed.show(screen, viewer=self.user, filled=self._filled)

    async def _settled(self, screen: Screen) -> None:
        try:
            async with asyncio.timeout(SETTLE_SECONDS):
                await settle(self.baton.runtime, self.baton.deliverer)
        except TimeoutError:
            screen.say("(Baton is still working; the rest shows after your next line.)")

    # -- where you are, and when ----------------------------------------------------------------

    def _where_typing(self) -> str:
        conversation = self.workspace.conversation(self.channel)
        return (
            "in DM with Baton"
            if conversation and conversation.kind == "im"
            else self.names.place(self.channel)
        )

    def _say_whereabouts(self, screen: Screen) -> None:
        person = self.names.person(self.user)
        screen.say(
            f"You are @{person.name} ({person.real_name}), typing {self._where_typing()}. "
            f"It is {self._clock_text(self.user)}."
        )

    def _clock_text(self, user_id: str) -> str:
        zone = self.names.zone(user_id)
        local = self.clock.now().astimezone(zone)
        utc = self.clock.now()
        return f"{local:%a %b} {local.day}, {local:%H:%M} in {zone.key} ({utc:%H:%M} UTC)"

    def _reader(self) -> Reader:
        return Reader(self.workspace, self.names.zone(self.user), self.clock)

    def _open_modal(self) -> View:
        view = self.emulator.open_view(self.user)
        if view is None:
            raise ConsoleError(f"@{self.names.name(self.user)} has no modal open.")
        return view

    @staticmethod
    def _check(response: httpx.Response, what: str) -> None:
        if response.status_code != 200:
            raise ConsoleError(f"Baton answered {what} with HTTP {response.status_code}.")
