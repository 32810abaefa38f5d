"""Status digests (SPEC section 6): subscriptions per channel, the sweep job that fires them,
the digest itself and the insight behind it (projected finishes, risk, bottlenecks)."""

from __future__ import annotations

from bot.delivery import Deliverer
from bot.digests.delivery import deliver_digest
from bot.digests.firing import fire_due_digests
from bot.outbox import Note
from bot.sweep import Sweeper


def register(sweeper: Sweeper, deliverer: Deliverer) -> None:
    """Fire due subscriptions on every sweep; deliver digest notes as they stand then."""
    sweeper.on_tick("digests", fire_due_digests)
    deliverer.handle(Note.DIGEST, deliver_digest)
