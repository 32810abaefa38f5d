"""Baton's tables. Every row carries the Slack `team_id` it belongs to.

States and kinds are members of `storage.vocabulary`'s enums, stored as their string values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import JSON, Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, word_field
from storage.vocabulary import (
    AssigneeKind,
    Note,
    NoteState,
    RunState,
    StepKind,
    StepState,
    TimerKind,
    TimerState,
)


def _utc(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _json_dict() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def _revision_column() -> Column[int]:
    return Column("revision", Integer, nullable=False)


# Rows whose every UPDATE is conditional on the revision read (SQLAlchemy's version counter):
# a double click or a racing replica finds 0 rows matched and gets StaleDataError, not a change.
_run_revision = _revision_column()
_step_run_revision = _revision_column()


class Workspace(SQLModel, table=True):
    team_id: str = Field(primary_key=True, max_length=32)
    name: str = ""
    domain: str = ""
    active: bool = True
    escalation_working_days: int = 1
    installed_at: datetime = _utc()
    uninstalled_at: datetime | None = _utc(nullable=True)


class Workflow(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True, max_length=32)
    name: str = Field(max_length=40)
    owner_id: str = Field(max_length=32)
    # People who may edit it besides its owner (user ids).
    editors: list[str] = _json_list()
    # Who may start runs besides its owner, editors and admins: user ids and user group ids
    # (S…). Empty: anyone may.
    runners: list[str] = _json_list()
    latest_version: int = 0
    next_run_number: int = 1
    archived_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class WorkflowVersion(SQLModel, table=True):
    __tablename__ = "workflow_version"
    __table_args__ = (UniqueConstraint("workflow_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True, max_length=32)
    workflow_id: int = Field(foreign_key="workflow.id", index=True)
    number: int
    title: str
    description: str = ""
    channel_id: str | None = Field(default=None, max_length=32)
    params: list[dict[str, Any]] = _json_list()
    created_by: str = Field(max_length=32)
    created_at: datetime = _utc()


class WorkflowStep(SQLModel, table=True):
    __tablename__ = "workflow_step"
    __table_args__ = (UniqueConstraint("version_id", "step_key"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True, max_length=32)
    version_id: int = Field(foreign_key="workflow_version.id", index=True)
    position: int
    step_key: str = Field(max_length=40)
    title: str
    kind: StepKind = word_field(StepKind, 16)
    assignee_kind: AssigneeKind | None = word_field(AssigneeKind, 16, nullable=True)
    assignee_value: str | None = None
    assignee_label: str | None = None
    hook: str | None = Field(default=None, max_length=40)
    after: list[str] = _json_list()
    due_seconds: int | None = None
    wait_seconds: int | None = None


class Run(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("team_id", "key"),
        Index("ix_run_team_state", "team_id", "state"),
        Index("ix_run_team_channel_state", "team_id", "channel_id", "state"),
        Index("ix_run_team_owner_state", "team_id", "owner_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    workflow_id: int = Field(foreign_key="workflow.id", index=True)
    version_id: int = Field(foreign_key="workflow_version.id")
    number: int
    key: str = Field(max_length=64)
    title: str
    owner_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    card_ts: str | None = Field(default=None, max_length=32)
    params: dict[str, Any] = _json_dict()
    state: RunState = word_field(RunState, 16)
    deadline: datetime | None = _utc(nullable=True)
    reason: str | None = None
    created_at: datetime = _utc()
    finished_at: datetime | None = _utc(nullable=True)
    revision: int = Field(default=0, sa_column=_run_revision)

    __mapper_args__ = {"version_id_col": _run_revision}


class StepRun(SQLModel, table=True):
    __tablename__ = "step_run"
    __table_args__ = (
        UniqueConstraint("run_id", "step_key"),
        Index("ix_step_run_team_assignee_state", "team_id", "assignee_id", "state"),
        Index("ix_step_run_team_state", "team_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    run_id: int = Field(foreign_key="run.id", index=True)
    position: int
    step_key: str = Field(max_length=40)
    title: str
    kind: StepKind = word_field(StepKind, 16)
    # user or group; assignee_id is a user or group id (None for hook and wait steps)
    assignee_kind: AssigneeKind | None = word_field(AssigneeKind, 16, nullable=True)
    assignee_id: str | None = Field(default=None, max_length=32)
    delegated_from: str | None = Field(default=None, max_length=32)
    claimed_by: str | None = Field(default=None, max_length=32)
    hook: str | None = Field(default=None, max_length=40)
    after: list[str] = _json_list()
    due_seconds: int | None = None
    wait_seconds: int | None = None
    state: StepState = word_field(StepState, 16)
    ready_at: datetime | None = _utc(nullable=True)
    started_at: datetime | None = _utc(nullable=True)
    finished_at: datetime | None = _utc(nullable=True)
    due_at: datetime | None = _utc(nullable=True)
    blocked_reason: str | None = None
    outcome_by: str | None = Field(default=None, max_length=32)
    outcome_note: str | None = None
    output: dict[str, Any] = _json_dict()
    revision: int = Field(default=0, sa_column=_step_run_revision)

    __mapper_args__ = {"version_id_col": _step_run_revision}


class StepMessage(SQLModel, table=True):
    """A message Baton posted about a step (its DMs, one per group member), redrawn on change."""

    __tablename__ = "step_message"

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    step_run_id: int = Field(foreign_key="step_run.id", index=True)
    user_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    ts: str = Field(max_length=32)


class Timer(SQLModel, table=True):
    """Due work: reminders, escalations, wait steps and hook retries, swept by due time.

    The sweep reads only pending rows whose time has come, through `ix_timer_pending`, so its
    cost follows the due rows, not the number waiting.
    """

    __table_args__ = (Index("ix_timer_pending", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    kind: TimerKind = word_field(TimerKind, 24)
    run_id: int | None = Field(default=None, foreign_key="run.id", index=True)
    step_run_id: int | None = Field(default=None, foreign_key="step_run.id", index=True)
    recipient_id: str | None = Field(default=None, max_length=32)
    due_at: datetime = _utc()
    state: TimerState = word_field(TimerState, 16, default=TimerState.PENDING)
    attempt: int = 0
    claimed_by: str | None = Field(default=None, max_length=64)
    fired_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()


class Schedule(SQLModel, table=True):
    __table_args__ = (Index("ix_schedule_due", "active", "next_fire_at"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True, max_length=32)
    workflow_id: int = Field(foreign_key="workflow.id", index=True)
    spec: str
    cron: str = Field(max_length=64)
    tz: str = Field(max_length=64)
    params: dict[str, Any] = _json_dict()
    channel_id: str | None = Field(default=None, max_length=32)
    created_by: str = Field(max_length=32)
    active: bool = True
    next_fire_at: datetime | None = _utc(nullable=True)
    last_fired_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()


class DigestSubscription(SQLModel, table=True):
    __tablename__ = "digest_subscription"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id"),
        Index("ix_digest_due", "active", "next_fire_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    spec: str
    cron: str = Field(max_length=64)
    tz: str = Field(max_length=64)
    created_by: str = Field(max_length=32)
    active: bool = True
    next_fire_at: datetime | None = _utc(nullable=True)
    last_sent_at: datetime | None = _utc(nullable=True)
    # The last digest sent said "all quiet": the scheduled ones stay silent until that changes.
    said_quiet: bool = False
    created_at: datetime = _utc()


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True, max_length=32)
    run_id: int | None = Field(default=None, foreign_key="run.id", index=True)
    step_key: str | None = Field(default=None, max_length=40)
    actor_id: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=32)
    detail: dict[str, Any] = _json_dict()
    created_at: datetime = _utc()


class Outbox(SQLModel, table=True):
    """Semantic notifications waiting for delivery, in order per conversation."""

    __table_args__ = (
        Index("ix_outbox_pending", "state", "next_attempt_at"),
        Index("ix_outbox_conversation", "team_id", "conversation", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    kind: Note = word_field(Note, 32)
    conversation: str = Field(max_length=32)
    payload: dict[str, Any] = _json_dict()
    state: NoteState = word_field(NoteState, 16, default=NoteState.PENDING)
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _utc(nullable=True)
    last_error: str | None = None
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)
    # Wall time an attempt that may have reached Slack began; set while its outcome is unknown
    # (in flight, or its replica died), so the next attempt first looks for what it posted.
    started_at: datetime | None = _utc(nullable=True)
    # Messages this notification already posted ("part" -> {channel, ts}): never posted twice.
    posted: dict[str, Any] = _json_dict()


class ChannelPace(SQLModel, table=True):
    """When the next chat.postMessage may go to a Slack channel, shared by every replica.

    `next_post_at` is wall-clock epoch seconds: a plain number lets one UPDATE reserve a slot
    on SQLite and PostgreSQL alike.
    """

    __tablename__ = "channel_pace"

    team_id: str = Field(primary_key=True, max_length=32)
    channel: str = Field(primary_key=True, max_length=32)
    next_post_at: float = 0.0
    # Slack answered 429 with Retry-After: nothing goes to the channel before this.
    paused_until: float = 0.0


class Person(SQLModel, table=True):
    """What Baton knows of a Slack user: zone (cached from users.info), hours, away."""

    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    name: str = ""
    tz: str = Field(default="UTC", max_length=64)
    is_admin: bool = False
    fetched_at: datetime | None = _utc(nullable=True)
    work_start: str = Field(default="09:00", max_length=5)
    work_end: str = Field(default="18:00", max_length=5)
    work_days: str = Field(default="01234", max_length=7)  # Monday=0
    away_until: datetime | None = _utc(nullable=True)
    delegate_id: str | None = Field(default=None, max_length=32)


class Integration(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    name: str = Field(max_length=40)
    url: str
    secret: str
    created_by: str = Field(max_length=32)
    created_at: datetime = _utc()


class SlackEvent(SQLModel, table=True):
    """Event ids already handled, so Slack's retries of an event do nothing twice."""

    __tablename__ = "slack_event"

    event_id: str = Field(primary_key=True, max_length=64)
    team_id: str = Field(max_length=32)
    received_at: datetime = _utc(index=True)


class SlackRequest(SQLModel, table=True):
    """Slash commands and interactions, kept from before their ack until their listener has
    run: a replay of one (same `trigger_id`) does nothing, and one whose process died after
    the ack is run again, once, by the sweep."""

    __tablename__ = "slack_request"

    team_id: str = Field(primary_key=True, max_length=32)
    trigger_id: str = Field(primary_key=True, max_length=128)
    body: str = Field(sa_type=Text)
    content_type: str = Field(max_length=100)
    received_at: datetime = _utc()
    done_at: datetime | None = _utc(nullable=True, index=True)
    # Wall time until which the worker running it owns it; after it the sweep takes it over.
    claimed_by: str = Field(max_length=100)
    claimed_until: datetime = _utc()
    attempts: int = 1


# Slack's OAuth installations, bots and states in slack_sdk's own schema (its stores read and
# write them), declared on this metadata so that Alembic owns them with the rest.
SLACK_INSTALLATIONS = SQLAlchemyInstallationStore.build_installations_table(
    SQLModel.metadata, "slack_installations"
)
SLACK_BOTS = SQLAlchemyInstallationStore.build_bots_table(SQLModel.metadata, "slack_bots")
# Tokens are stored sealed (storage.sealing) when BATON_SECRET_KEY is set: a sealed rotating
# token is longer than slack_sdk's String(200), so these columns are unbounded text.
TOKEN_COLUMNS = {
    SLACK_INSTALLATIONS: ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token"),
    SLACK_BOTS: ("bot_token", "bot_refresh_token"),
}
for _table, _names in TOKEN_COLUMNS.items():
    for _name in _names:
        _table.c[_name].type = Text()
SLACK_OAUTH_STATES = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    SQLModel.metadata, "slack_oauth_states"
)
