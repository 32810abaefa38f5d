"""The YAML form of a workflow (``export`` writes it, ``import`` reads it).

The reader walks PyYAML's node graph (``yaml.compose``) rather than constructed Python objects:
nothing is ever constructed from tags, every value keeps its line for messages, and a scalar is
read as the text that was written (``id: 123`` is the id ``"123"``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.language.assignees import AssigneeError, clean_mentions, format_assignee, parse_assignee
from bot.language.duration import DURATION_HINT, format_duration, parse_duration
from bot.language.model import (
    Assignee,
    DefinitionError,
    ParamDef,
    ParamType,
    Problem,
    StepDef,
    WorkflowDef,
)
from bot.language.validate import check_definition, sort_problems
from storage.vocabulary import AssigneeKind, StepKind

__all__ = ["MAX_SOURCE", "format_yaml", "parse_yaml"]

MAX_SOURCE: Final = 200_000

_TOP_KEYS: Final = (
    "name",
    "title",
    "description",
    "channel",
    "editors",
    "runners",
    "params",
    "steps",
)
_STEP_KEYS: Final = ("id", "title", "kind", "assignee", "hook", "after", "due", "wait")
_PARAM_KEYS: Final = ("type", "required")
_NULL_TAG: Final = "tag:yaml.org,2002:null"
_BOOL_TAG: Final = "tag:yaml.org,2002:bool"
_TRUE: Final = frozenset({"yes", "true", "on", "y"})
_WIDTH: Final = 1_000_000
_STAND_INS: Final[dict[str, Any]] = {
    "title": "?",
    "hook": "unreadable",
    "wait": timedelta(minutes=1),
}
_ODD_BREAKS: Final = "\r\x85\u2028\u2029"
_NAME_NOISE: Final = ("the workflow name", "the workflow title")
# One person or group in a scalar list (``editors: "@bob, @carol"``): Slack's <...> forms whole.
_PERSON_TOKEN_RE: Final = re.compile(r"(?:<[^<>]*>|[^\s,<])+")
_PEOPLE_HINTS: Final = {
    "editors": "Write e.g. editors: ['@bob', U0123ABCD] (people, by @name or user id)",
    "runners": "Write e.g. runners: ['@bob', '@oncall'] (people and user groups)",
}


def parse_yaml(text: str) -> WorkflowDef:
    """Read a workflow from YAML; raises :class:`DefinitionError` with every problem found."""
    if len(text) > MAX_SOURCE:
        raise DefinitionError(
            [Problem(f"the YAML is longer than {MAX_SOURCE} characters", hint="Shorten it")]
        )
    root = _compose(text)
    reader = _Reader()
    defn = reader.workflow(root)
    if defn is None:
        raise DefinitionError(sort_problems(reader.problems))
    checked = check_definition(defn, integrations=None, form="yaml")
    if reader.name_missing:  # already reported; its empty stand-in would only add noise
        checked = tuple(p for p in checked if not p.message.startswith(_NAME_NOISE))
    problems = reader.problems + list(checked)
    if problems:
        raise DefinitionError(sort_problems(problems))
    return defn


def format_yaml(defn: WorkflowDef, *, fold: int | None = None) -> str:
    """The YAML of ``defn``, laid out as in the product spec: one flow mapping per step.

    With ``fold``, a text with a line longer than that is written double-quoted and broken
    at its spaces after about ``fold`` characters (YAML's escaped line breaks), so that a
    message cut into parts where lines end can carry it; it reads back the same.
    """
    data: dict[str, Any] = {"name": defn.name, "title": defn.title}
    if defn.description:
        data["description"] = defn.description
    if defn.channel is not None:
        data["channel"] = defn.channel
    for key, people in (("editors", defn.editors), ("runners", defn.runners)):
        if people is not None:
            data[key] = _FlowList(format_assignee(a, bare_ids=True) for a in people)
    if defn.params:
        data["params"] = {  # `required` only where true, its default being false
            p.name: _Flow(type=p.type.value, **({"required": True} if p.required else {}))
            for p in defn.params
        }
    data["steps"] = [_Flow(_step_mapping(step)) for step in defn.steps]
    dumper = _Dumper if fold is None else type("_FoldingDumper", (_Dumper,), {"fold": fold})
    return yaml.dump(
        data,
        Dumper=dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=_WIDTH,
    )


# -- writing -----------------------------------------------------------------------------------


class _Flow(dict[str, Any]):
    """A mapping written on one line, ``{id: docs, title: ...}``."""


class _FlowList(list[str]):
    """A list written on one line, ``[U0BOB, S0OPS]``."""


class _Dumper(yaml.SafeDumper):
    """Safe dumping, with multi-line text as literal blocks and :class:`_Flow` inline."""

    fold: int | None = None  # see format_yaml

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent lists under their key: "  - {...}"

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        if self.fold is None or self.flow_level:  # PyYAML misreads its folds in a {...}
            super().write_double_quoted(text, split)
            return
        width = self.best_width
        self.best_width = self.fold  # only here: flow mappings stay on one line
        try:
            super().write_double_quoted(text, split)
        finally:
            self.best_width = width


def _represent_str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    fold = dumper.fold
    if any(c in value for c in _ODD_BREAKS):  # YAML would read these as line breaks
        style: str | None = '"'
    elif fold is not None and any(len(line) > fold for line in value.split("\n")):
        style = '"'
    else:
        style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_flow(dumper: yaml.SafeDumper, value: _Flow) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True)


def _represent_flow_list(dumper: yaml.SafeDumper, value: _FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(_FlowList, _represent_flow_list)


def _step_mapping(step: StepDef) -> dict[str, Any]:
    data: dict[str, Any] = {"id": step.id, "title": step.title}
    if step.kind is StepKind.APPROVAL or (
        (step.kind is StepKind.HOOK) != (step.hook is not None)
        or (step.kind is StepKind.WAIT) != (step.wait is not None)
    ):
        data["kind"] = step.kind.value
    if step.assignee is not None:
        data["assignee"] = format_assignee(step.assignee, bare_ids=True)
    if step.hook is not None:
        data["hook"] = step.hook
    if step.after:
        data["after"] = list(step.after)
    if step.due is not None:
        data["due"] = format_duration(step.due)
    if step.wait is not None:
        data["wait"] = format_duration(step.wait)
    return data


# -- reading -----------------------------------------------------------------------------------


def _compose(text: str) -> Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(part for part in (exc.context, exc.problem) if part) or "malformed YAML"
        raise DefinitionError(
            [
                Problem(
                    f"the YAML cannot be read: {what}",
                    None if mark is None else mark.line + 1,
                    hint="Check the indentation, the colons and the quotes there",
                )
            ]
        ) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError(
            [Problem(f"the YAML cannot be read: {exc}", hint="Check the text for stray characters")]
        ) from exc
    except RecursionError as exc:
        raise DefinitionError(
            [Problem("the YAML is nested too deeply", hint="Write a flat mapping of keys")]
        ) from exc


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _shape(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "empty" if node.tag == _NULL_TAG else "text"


@dataclass
class _Reader:
    problems: list[Problem] = field(default_factory=list)
    name_missing: bool = False

    def problem(
        self, message: str, node: Node | None, step: str | None = None, hint: str | None = None
    ) -> None:
        self.problems.append(Problem(message, None if node is None else _line(node), step, hint))

    # ---- generic shapes

    def entries(
        self, node: MappingNode, allowed: tuple[str, ...], where: str, step: str | None = None
    ) -> Iterator[tuple[str, Node, Node]]:
        """The ``(key, key node, value node)`` of a mapping; unknown and repeated keys reported."""
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problem(
                    f"{where} has a key that is {_shape(key_node)}, not a name",
                    key_node,
                    step,
                    f"Allowed keys: {', '.join(allowed)}",
                )
                continue
            key = str(key_node.value)
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                guess = f"Did you mean '{close[0]}'? " if close else ""
                self.problem(
                    f"unknown key '{key}' in {where}",
                    key_node,
                    step,
                    f"{guess}Allowed keys: {', '.join(allowed)}",
                )
                continue
            if key in seen:
                self.problem(f"'{key}' is given twice in {where}", key_node, step, "Keep one")
                continue
            seen.add(key)
            yield key, key_node, value_node

    def text(self, node: Node, key: str, step: str | None = None) -> str | None:
        """A scalar as written; ``None`` for an empty value. Lists and mappings are reported."""
        if not isinstance(node, ScalarNode):
            self.problem(
                f"'{key}' must be text, not {_shape(node)}", node, step, _TEXT_HINTS.get(key)
            )
            return None
        if node.tag == _NULL_TAG:
            return None
        return str(node.value)

    def duration(self, node: Node, key: str, step: str | None) -> timedelta | None:
        spelled = self.text(node, key, step)
        if spelled is None:
            return None
        try:
            return parse_duration(spelled)
        except ValueError as exc:
            self.problem(f"{key} {exc}", node, step, DURATION_HINT)
            return None

    # ---- the workflow

    def workflow(self, root: Node | None) -> WorkflowDef | None:
        if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG):
            self.problem("the YAML is empty", None, hint=f"Write {_EXAMPLE}")
            return None
        if not isinstance(root, MappingNode):
            self.problem(
                f"the YAML must be a mapping of keys, not {_shape(root)}",
                root,
                hint=f"Write {_EXAMPLE}",
            )
            return None
        values: dict[str, Any] = {}
        readers: dict[str, Callable[[Node, str], Any]] = {
            "name": self.text,
            "title": self.text,
            "description": self.text,
            "channel": self.text,
            "editors": self.people,
            "runners": self.people,
            "params": self.params,
            "steps": self.steps,
        }
        for key, _, value_node in self.entries(root, _TOP_KEYS, "the workflow"):
            values[key] = readers[key](value_node, key)
        name = values.get("name")
        if name is None:
            self.name_missing = True
            if "name" not in values:
                self.problem("the workflow has no name", root, hint="Write e.g. name: onboarding")
            name = ""
        return WorkflowDef(
            name=name,
            title=clean_mentions(values.get("title") or name),
            steps=values.get("steps") or (),
            description=clean_mentions(values.get("description") or ""),
            channel=values.get("channel"),
            params=values.get("params") or (),
            editors=values.get("editors"),
            runners=values.get("runners"),
        )

    def people(self, node: Node, key: str) -> tuple[Assignee, ...]:
        """``editors`` (people) or ``runners`` (people and user groups): a list, or one text
        with the names separated by commas or spaces. Empty means nobody; repeats are dropped."""
        if isinstance(node, ScalarNode):
            spelled = self.text(node, key) or ""
            items = [(word, node) for word in _PERSON_TOKEN_RE.findall(spelled)]
        elif isinstance(node, SequenceNode):
            items = []
            for item in node.value:
                word = self.text(item, key)
                if word is not None:
                    items.append((word, item))
        else:
            self.problem(f"{key} must be a list, not {_shape(node)}", node, hint=_PEOPLE_HINTS[key])
            return ()
        found: dict[tuple[AssigneeKind, str], Assignee] = {}
        for word, item in items:
            person = self.person(word, item, key)
            if person is not None:
                found.setdefault((person.kind, person.value), person)
        return tuple(found.values())

    def person(self, spelled: str, node: Node, key: str) -> Assignee | None:
        try:
            found = parse_assignee(spelled, bare_ids=True)
        except AssigneeError as exc:
            self.problem(f"{key}: {exc.message}", node, hint=_PEOPLE_HINTS[key])
            return None
        if found.kind is AssigneeKind.PARAM:
            self.problem(
                f"{key}: '{spelled}' is a run parameter, not a person",
                node,
                hint=_PEOPLE_HINTS[key],
            )
            return None
        if found.kind is AssigneeKind.GROUP and key == "editors":
            self.problem(
                f"editors: '{spelled}' is a user group; editors are people",
                node,
                hint="Name each person (a group may be given in runners, who may start runs)",
            )
            return None
        return found

    def params(self, node: Node, key: str) -> tuple[ParamDef, ...]:
        if isinstance(node, ScalarNode) and node.tag == _NULL_TAG:
            return ()
        if not isinstance(node, MappingNode):
            self.problem(
                f"params must be a mapping, not {_shape(node)}",
                node,
                hint="Write e.g. params: {manager: {type: user, required: true}}",
            )
            return ()
        found: list[ParamDef] = []
        seen: set[str] = set()
        for name_node, spec in node.value:
            if not isinstance(name_node, ScalarNode) or name_node.tag == _NULL_TAG:
                self.problem(
                    f"a parameter name must be text, not {_shape(name_node)}",
                    name_node,
                    hint="Write e.g. params: {manager: {type: user}}",
                )
                continue
            name = str(name_node.value)
            if name in seen:
                self.problem(
                    f"the parameter '{name}' is declared twice", name_node, hint="Keep one"
                )
                continue
            seen.add(name)
            param = self.param(name, spec)
            if param is not None:
                found.append(param)
        return tuple(found)

    def param(self, name: str, node: Node) -> ParamDef | None:
        if isinstance(node, ScalarNode):  # shorthand ``hire: text``, or empty for text
            return self.param_type(name, self.text(node, "type"), node, required=False)
        if not isinstance(node, MappingNode):
            self.problem(
                f"the parameter '{name}' must be a mapping, not {_shape(node)}",
                node,
                hint=f"Write {name}: {{type: user, required: true}}",
            )
            return None
        type_node: Node = node
        spelled: str | None = None
        required = False  # SPEC section 2 writes `required: true` where a parameter must be given
        for key, _, value in self.entries(node, _PARAM_KEYS, f"the parameter '{name}'"):
            if key == "type":
                type_node, spelled = value, self.text(value, "type")
            elif isinstance(value, ScalarNode) and value.tag == _BOOL_TAG:
                required = str(value.value).lower() in _TRUE
            else:
                self.problem(
                    f"required of '{name}' must be true or false", value, hint="Write true or false"
                )
        return self.param_type(name, spelled, type_node, required=required)

    def param_type(
        self, name: str, spelled: str | None, node: Node, *, required: bool
    ) -> ParamDef | None:
        if spelled is None:
            return ParamDef(name, ParamType.TEXT, required)
        try:
            kind = ParamType(spelled)
        except ValueError:
            self.problem(
                f"the parameter '{name}' has the unknown type '{spelled}'",
                node,
                hint="Write type: user or type: text",
            )
            return None
        return ParamDef(name, kind, required)

    def steps(self, node: Node, key: str) -> tuple[StepDef, ...]:
        if isinstance(node, ScalarNode) and node.tag == _NULL_TAG:
            return ()
        if not isinstance(node, SequenceNode):
            self.problem(
                f"steps must be a list, not {_shape(node)}", node, hint=f"Write {_EXAMPLE}"
            )
            return ()
        found: list[StepDef] = []
        for item in node.value:
            step = self.step(item)
            if step is not None:
                found.append(step)
        return tuple(found)

    def step(self, node: Node) -> StepDef | None:
        if not isinstance(node, MappingNode):
            self.problem(
                f"a step must be a mapping, not {_shape(node)}",
                node,
                hint="Write e.g. - {id: docs, title: Collect documents, assignee: '@alice'}",
            )
            return None
        step_id = next(
            (
                str(value.value)
                for key, value in node.value
                if isinstance(key, ScalarNode)
                and key.value == "id"
                and isinstance(value, ScalarNode)
                and value.tag != _NULL_TAG
            ),
            None,
        )
        fields: dict[str, Any] = {}
        failed: set[str] = set()
        for key, _, value in self.entries(node, _STEP_KEYS, "a step", step_id):
            reported = len(self.problems)
            self.step_field(fields, key, value, step_id)
            if len(self.problems) > reported:
                failed.add(key)
                if key in _STAND_INS:  # reported already: spare the follow-up problems
                    fields[key] = _STAND_INS[key]
        if step_id is None:
            if "id" not in failed:
                self.problem("the step has no id", node, hint="Write e.g. id: docs")
            return None
        kind = fields.get("kind")
        if kind is None:
            kind = (
                StepKind.HOOK
                if fields.get("hook") is not None
                else StepKind.WAIT
                if fields.get("wait") is not None
                else StepKind.TASK
            )
        return StepDef(
            id=step_id,
            title=clean_mentions(fields.get("title") or ""),
            kind=kind,
            assignee=fields.get("assignee"),
            hook=fields.get("hook"),
            after=fields.get("after") or (),
            due=fields.get("due"),
            wait=fields.get("wait"),
            line=_line(node),
        )

    def step_field(
        self, fields: dict[str, Any], key: str, value: Node, step_id: str | None
    ) -> None:
        if key in ("id", "title", "hook"):
            fields[key] = self.text(value, key, step_id)
        elif key == "kind":
            fields[key] = self.kind(value, step_id)
        elif key == "assignee":
            fields[key] = self.assignee(value, step_id)
        elif key == "after":
            fields[key] = self.after(value, step_id)
        else:
            fields[key] = self.duration(value, key, step_id)

    def kind(self, node: Node, step: str | None) -> StepKind | None:
        spelled = self.text(node, "kind", step)
        if spelled is None:
            return None
        try:
            return StepKind(spelled)
        except ValueError:
            self.problem(
                f"unknown kind '{spelled}'",
                node,
                step,
                f"Write one of: {', '.join(k.value for k in StepKind)}",
            )
            return None

    def assignee(self, node: Node, step: str | None) -> Any:
        spelled = self.text(node, "assignee", step)
        if spelled is None:
            return None
        try:
            return parse_assignee(spelled, bare_ids=True)
        except AssigneeError as exc:
            self.problem(exc.message, node, step, exc.hint)
            return None

    def after(self, node: Node, step: str | None) -> tuple[str, ...]:
        if isinstance(node, ScalarNode):  # ``after: docs`` or ``after: docs, laptop``
            spelled = self.text(node, "after", step) or ""
            return tuple(part.strip() for part in spelled.split(",") if part.strip())
        if not isinstance(node, SequenceNode):
            self.problem(
                f"after must be a list of step ids, not {_shape(node)}",
                node,
                step,
                "Write e.g. after: [docs, laptop]",
            )
            return ()
        ids: list[str] = []
        for item in node.value:
            dep = self.text(item, "after", step)
            if dep is not None:
                ids.append(dep)
        return tuple(ids)


_EXAMPLE: Final = "name: onboarding, title: ..., steps: [{id: docs, title: Collect documents}]"
_TEXT_HINTS: Final = {
    "assignee": "Write one assignee, e.g. assignee: '@alice'",
    "editors": _PEOPLE_HINTS["editors"],
    "runners": _PEOPLE_HINTS["runners"],
    "after": "Write e.g. after: [docs, laptop]",
    "title": "Quote the title if it contains a colon or brackets",
}
