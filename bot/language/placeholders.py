"""Placeholders in a step's title: ``{name}`` is a run parameter and
``{steps.<id>.output.<key>}`` an earlier step's output. Anything else in braces is plain text,
except that ``{steps....}`` must be well formed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from bot.language.model import PARAM_NAME_RE

__all__ = ["OutputRef", "fill_title", "malformed_refs", "output_refs", "title_params"]

_PLACEHOLDER_RE: Final = re.compile(r"\{([^{}]*)\}")
_OUTPUT_REF_RE: Final = re.compile(
    r"steps\.([a-z0-9][a-z0-9_-]{0,39})\.output\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)"
)
_SPACED_PLACEHOLDER_RE: Final = re.compile(r"([ \t]*)\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class OutputRef:
    """``{steps.<step>.output.<key>}`` in a title (``key`` may be a dotted path)."""

    step: str
    key: str
    text: str


def title_params(title: str) -> tuple[str, ...]:
    """The parameter names a title uses as ``{name}``, in order of first use."""
    names: dict[str, None] = {}
    for match in _PLACEHOLDER_RE.finditer(title):
        if PARAM_NAME_RE.fullmatch(match.group(1)):
            names.setdefault(match.group(1))
    return tuple(names)


def output_refs(title: str) -> tuple[OutputRef, ...]:
    """The well-formed output references in a title, in order."""
    refs: list[OutputRef] = []
    for match in _PLACEHOLDER_RE.finditer(title):
        ref = _OUTPUT_REF_RE.fullmatch(match.group(1))
        if ref is not None:
            refs.append(OutputRef(ref.group(1), ref.group(2), match.group(0)))
    return tuple(refs)


def malformed_refs(title: str) -> tuple[str, ...]:
    """Placeholders that start like an output reference (``{steps.``) but are not one."""
    return tuple(
        match.group(0)
        for match in _PLACEHOLDER_RE.finditer(title)
        if match.group(1).startswith("steps.") and not _OUTPUT_REF_RE.fullmatch(match.group(1))
    )


def fill_title(
    title: str,
    params: Mapping[str, str],
    outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Replace ``{name}`` and ``{steps.<id>.output.<key>}`` with values; unknown ones stay.

    A parameter whose value is empty (an optional one left out) disappears with the spaces
    before it, so ``Collect documents for {hire}`` reads ``Collect documents for``.
    """
    outputs = outputs or {}
    removed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal removed
        spaces, inner = match.group(1), match.group(2)
        if PARAM_NAME_RE.fullmatch(inner):
            value = params.get(inner)
            if value is None:
                return match.group(0)
            removed = removed or not value
            return spaces + value if value else ""
        ref = _OUTPUT_REF_RE.fullmatch(inner)
        if ref is None:
            return match.group(0)
        found: Any = outputs.get(ref.group(1))
        for part in ref.group(2).split("."):
            if not isinstance(found, Mapping) or part not in found:
                return match.group(0)
            found = found[part]
        return spaces + str(found)

    filled = _SPACED_PLACEHOLDER_RE.sub(replace, title)
    return (filled.strip() or title) if removed else filled
