"""Who holds a step: the one place that reads `claimed_by`, `assignee_kind` and `assignee_id`
together. Pure: no I/O (a group's members are the caller's to look up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from storage.vocabulary import AssigneeKind


class Assigned(Protocol):
    """What a step says of who it is for (a step run, or a row read from one)."""

    @property
    def assignee_kind(self) -> AssigneeKind | None: ...

    @property
    def assignee_id(self) -> str | None: ...

    @property
    def claimed_by(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Holders:
    """One person (whoever claimed the step, or the user it is for), or every member of a user
    group while none of them has claimed it; neither for a hook or wait step."""

    user: str | None = None
    group: str | None = None

    @property
    def id(self) -> str | None:
        """The person's id, else the group's."""
        return self.user or self.group


def holders(step: Assigned) -> Holders:
    if step.claimed_by:
        return Holders(user=step.claimed_by)
    if step.assignee_kind == AssigneeKind.GROUP:
        return Holders(group=step.assignee_id)
    return Holders(user=step.assignee_id)
