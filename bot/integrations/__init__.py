"""Integrations: hook steps done by other systems (SPEC section 7).

`register(sweeper)` adds the job that calls due hooks; `hook_routes(runtime)` is the callback
endpoint and its OpenAPI document. The admin commands live in `bot.integrations.registry`.
"""

from __future__ import annotations

from bot.integrations.callbacks import hook_routes
from bot.integrations.calls import call_due_hooks
from bot.sweep import Sweeper

__all__ = ["hook_routes", "register"]


def register(sweeper: Sweeper) -> None:
    sweeper.on_tick("hook_calls", call_due_hooks)
