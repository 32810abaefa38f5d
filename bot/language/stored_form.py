"""The stored form of a workflow: the JSON-safe dict kept with each saved version."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from bot.language.model import (
    Assignee,
    DefinitionError,
    ParamDef,
    ParamType,
    Problem,
    StepDef,
    WorkflowDef,
)
from storage.vocabulary import AssigneeKind, StepKind

__all__ = ["from_dict", "to_dict"]

_FORMAT_VERSION: Final = 1


def to_dict(defn: WorkflowDef) -> dict[str, Any]:
    """A JSON-safe dict of ``defn`` (durations as whole seconds) that :func:`from_dict` reads."""
    return {
        "format": _FORMAT_VERSION,
        "name": defn.name,
        "title": defn.title,
        "description": defn.description,
        "channel": defn.channel,
        "params": [
            {"name": p.name, "type": p.type.value, "required": p.required} for p in defn.params
        ],
        "steps": [_step_to_dict(s) for s in defn.steps],
        "editors": _people_to_list(defn.editors),
        "runners": _people_to_list(defn.runners),
    }


def _people_to_list(people: tuple[Assignee, ...] | None) -> list[dict[str, Any]] | None:
    if people is None:
        return None
    return [{"kind": a.kind.value, "value": a.value, "label": a.label} for a in people]


def _people_from_list(data: Any) -> tuple[Assignee, ...] | None:
    if data is None:
        return None
    return tuple(
        Assignee(AssigneeKind(a["kind"]), _str(a["value"]), _opt_str(a.get("label"))) for a in data
    )


def _step_to_dict(step: StepDef) -> dict[str, Any]:
    assignee = step.assignee
    return {
        "id": step.id,
        "title": step.title,
        "kind": step.kind.value,
        "assignee": None
        if assignee is None
        else {"kind": assignee.kind.value, "value": assignee.value, "label": assignee.label},
        "hook": step.hook,
        "after": list(step.after),
        "due": _seconds(step.due),
        "wait": _seconds(step.wait),
        "line": step.line,
    }


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def from_dict(data: Mapping[str, Any]) -> WorkflowDef:
    """Read what :func:`to_dict` wrote. Raises :class:`DefinitionError` on a malformed dict.

    It does not validate: a stored version stays loadable even if the rules later change.
    """
    try:
        version = data.get("format", _FORMAT_VERSION)
        if version != _FORMAT_VERSION:
            raise ValueError(f"unknown format {version!r}")
        return WorkflowDef(
            name=_str(data["name"]),
            title=_str(data["title"]),
            description=_str(data.get("description") or ""),
            channel=_opt_str(data.get("channel")),
            params=tuple(
                ParamDef(_str(p["name"]), ParamType(p["type"]), bool(p["required"]))
                for p in data.get("params") or ()
            ),
            steps=tuple(_step_from_dict(s) for s in data["steps"]),
            editors=_people_from_list(data.get("editors")),
            runners=_people_from_list(data.get("runners")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DefinitionError(
            [Problem(f"the stored definition is malformed ({type(exc).__name__}: {exc})")]
        ) from exc


def _step_from_dict(data: Mapping[str, Any]) -> StepDef:
    raw = data.get("assignee")
    assignee = (
        None
        if raw is None
        else Assignee(AssigneeKind(raw["kind"]), _str(raw["value"]), _opt_str(raw.get("label")))
    )
    line = data.get("line")
    return StepDef(
        id=_str(data["id"]),
        title=_str(data["title"]),
        kind=StepKind(data.get("kind", StepKind.TASK.value)),
        assignee=assignee,
        hook=_opt_str(data.get("hook")),
        after=tuple(_str(a) for a in data.get("after") or ()),
        due=_duration(data.get("due")),
        wait=_duration(data.get("wait")),
        line=line if isinstance(line, int) else None,
    )


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _duration(value: Any) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected seconds, got {type(value).__name__}")
    return timedelta(seconds=value)
