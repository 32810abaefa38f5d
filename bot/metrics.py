"""Prometheus metrics, one registry per app so several apps can live in one process (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "baton_slack_requests", "Requests from Slack by kind", ["kind"], registry=self.registry
        )
        self.ack_seconds = Histogram(
            "baton_ack_seconds", "Time from request to Slack's answer", registry=self.registry
        )
        self.outbox_depth = Gauge(
            "baton_outbox_depth", "Notifications waiting for delivery", registry=self.registry
        )
        self.outbox_oldest_seconds = Gauge(
            "baton_outbox_oldest_seconds",
            "Age of the oldest waiting notification",
            registry=self.registry,
        )
        self.deliveries = Counter(
            "baton_deliveries",
            "Notifications delivered, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.retries = Counter(
            "baton_delivery_retries", "Slack calls retried", ["reason"], registry=self.registry
        )
        self.sweeps = Counter("baton_sweeps", "Sweeps of due work", registry=self.registry)
        self.fired = Counter(
            "baton_timers_fired", "Due work done, by kind", ["kind"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
