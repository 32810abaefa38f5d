"""Notifications: the outbox, and delivering it to Slack (deliverer.py says how the parts fit)."""
