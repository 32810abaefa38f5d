"""The one registry of `/baton` subcommands: every spec has a handler and every handler a spec."""

from __future__ import annotations

import pytest

from bot.commands import SPECS
from bot.notify.replies import Reply
from bot.runtime import Runtime
from handlers.requests import SlashRequest
from handlers.slash import COMMANDS, pair


async def answer(runtime: Runtime, request: SlashRequest) -> Reply:
    return Reply("")


def test_every_spec_has_its_handler_in_help_order() -> None:
    assert [command.spec for command in COMMANDS.values()] == list(SPECS)
    assert all(name == command.spec.name for name, command in COMMANDS.items())


def test_a_spec_without_a_handler_or_a_handler_without_a_spec_is_refused() -> None:
    handlers = {name: command.handler for name, command in COMMANDS.items()}
    with pytest.raises(LookupError, match=r"without a handler: \['help'\]"):
        pair({name: handler for name, handler in handlers.items() if name != "help"})
    with pytest.raises(LookupError, match=r"without a spec: \['frobnicate'\]"):
        pair({**handlers, "frobnicate": answer})
