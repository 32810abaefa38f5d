"""A Slack workspace on this machine: a Web API emulator and a driver playing its people.

Used by the end-to-end tests and by `baton console`:

    async with SlackEmulator.default() as emu:
        client = AsyncWebClient(token="xoxb-emulator", base_url=emu.api_url)
        driver = SlackDriver("http://127.0.0.1:3000", signing_secret, emu)
        await driver.command("run onboarding", user="alice", channel="#onboarding")
        card = await emu.wait_for(lambda: emu.messages("#onboarding"))
"""

from bot.slack_emulator.api import ApiError
from bot.slack_emulator.blockkit import ElementRef, check_blocks, check_view, render_blocks
from bot.slack_emulator.driver import SlackDriver, signature
from bot.slack_emulator.faults import Fault
from bot.slack_emulator.loopback import LoopbackServer
from bot.slack_emulator.server import PacingViolation, SlackEmulator
from bot.slack_emulator.state import (
    Call,
    Change,
    Channel,
    Conversation,
    Edit,
    Message,
    User,
    Usergroup,
    View,
    Workspace,
)

__all__ = [
    "ApiError",
    "Call",
    "Change",
    "Channel",
    "Conversation",
    "Edit",
    "ElementRef",
    "Fault",
    "LoopbackServer",
    "Message",
    "PacingViolation",
    "SlackDriver",
    "SlackEmulator",
    "User",
    "Usergroup",
    "View",
    "Workspace",
    "check_blocks",
    "check_view",
    "render_blocks",
    "signature",
]
