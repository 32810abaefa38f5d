"""Tier 1, pure: the language, the plan, the state machine, time arithmetic, rendering and
the house's shape. No database and no HTTP: these run in a moment and may be exhaustive."""
