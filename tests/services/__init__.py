"""Tier 2, services on a real database: SQLite always, PostgreSQL when reachable (always under
CI). Services are called directly; Slack, where one is needed, is the emulator."""
