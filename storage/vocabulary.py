"""The stored vocabulary: every state and kind a column holds, as one enum each.

`storage` owns them because the columns do; the state machine (`bot.core.states`), the
workflow language and the outbox give them meaning. Values are what the columns hold, so
renaming a member is free but changing a value needs a migration of the rows.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class StepState(StrEnum):
    WAITING = "waiting"
    READY = "ready"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepKind(StrEnum):
    TASK = "task"
    APPROVAL = "approval"
    HOOK = "hook"
    WAIT = "wait"


class AssigneeKind(StrEnum):
    """Who a step is for. A step run holds only USER or GROUP (a parameter or a mention is
    resolved when the run starts); a workflow's step may hold any of them."""

    USER = "user"
    GROUP = "group"
    PARAM = "param"
    MENTION = "mention"


class TimerKind(StrEnum):
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    REPEAT = "repeat"  # an overdue reminder again, each working day
    ESCALATION = "escalation"  # the run's owner hears of a step long overdue
    SNOOZE = "snooze"  # holds someone's reminders back until a time they chose
    WAIT = "wait"  # a wait step's time is up
    HOOK_CALL = "hook_call"  # call a hook step's integration (again)


class TimerState(StrEnum):
    PENDING = "pending"
    CALLING = "calling"  # a hook call under way, leased to one replica until `due_at`
    FIRED = "fired"
    HELD = "held"  # a snooze: never swept, it holds reminders back until its due time
    DROPPED = "dropped"  # a reminder that had nothing left to say (the step moved on)
    CANCELLED = "cancelled"


class Note(StrEnum):
    """An outbox row's kind: what the deliverer does with its payload."""

    RUN_CARD = "run_card"  # post or update a run's card: {run_id}
    RUN_EVENT = "run_event"  # a line in the card's thread: {run_id, text}
    # DM the step's assignee(s) with buttons: {step_run_id}; or one person several steps of a
    # run in one message: {run_id, user_id, step_run_ids}
    STEP_READY = "step_ready"
    STEP_REFRESH = "step_refresh"  # redraw every message of a step: {step_run_id}
    DIRECT = "direct"  # a DM to one person: {user_id, text, blocks?}
    REDRAW = "redraw"  # replace a posted message: {channel_id, ts, text, blocks}
    HOME = "home"  # publish someone's App Home: {user_id}
    REMINDER = "reminder"  # {user_id, timer_ids}
    DIGEST = "digest"  # {channel_id, subscription_id?}


class NoteState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"  # gave up on it (a permanent Slack error, or too many attempts)
