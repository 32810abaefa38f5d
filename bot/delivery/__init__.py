"""Delivering the outbox to Slack (see bot/delivery/deliverer.py for how the parts fit)."""

from bot.delivery.attempt import PermanentFailure
from bot.delivery.coalescer import Coalescer
from bot.delivery.deliverer import Deliverer, observe_outbox
from bot.delivery.handler import Delivery, Handler
from bot.delivery.posting import METADATA_TYPE

__all__ = [
    "METADATA_TYPE",
    "Coalescer",
    "Deliverer",
    "Delivery",
    "Handler",
    "PermanentFailure",
    "observe_outbox",
]
