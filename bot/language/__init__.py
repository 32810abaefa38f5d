"""The workflow language: model, text and YAML forms, validation and the plan. Pure code."""

from bot.language.assignees import AssigneeError, clean_mentions, format_assignee, parse_assignee
from bot.language.duration import (
    DURATION_HINT,
    MAX_DURATION,
    duration_problem,
    format_duration,
    parse_duration,
)
from bot.language.model import (
    Assignee,
    DefinitionError,
    ParamDef,
    ParamType,
    Problem,
    StepDef,
    WorkflowDef,
)
from bot.language.placeholders import OutputRef, fill_title, output_refs, title_params
from bot.language.plan import (
    Dependencies,
    Plan,
    describe_plan,
    make_plan,
    remaining_critical,
    step_duration,
)
from bot.language.step_graph import find_cycles
from bot.language.stored_form import from_dict, to_dict
from bot.language.text import format_steps, format_text, parse_text
from bot.language.text_header import HEADERS, format_header
from bot.language.validate import require_valid, validate
from bot.language.yaml_form import format_yaml, parse_yaml

__all__ = [
    "DURATION_HINT",
    "HEADERS",
    "MAX_DURATION",
    "Assignee",
    "AssigneeError",
    "DefinitionError",
    "Dependencies",
    "OutputRef",
    "ParamDef",
    "ParamType",
    "Plan",
    "Problem",
    "StepDef",
    "WorkflowDef",
    "clean_mentions",
    "describe_plan",
    "duration_problem",
    "fill_title",
    "find_cycles",
    "format_assignee",
    "format_duration",
    "format_header",
    "format_steps",
    "format_text",
    "format_yaml",
    "from_dict",
    "make_plan",
    "output_refs",
    "parse_assignee",
    "parse_duration",
    "parse_text",
    "parse_yaml",
    "remaining_critical",
    "require_valid",
    "step_duration",
    "title_params",
    "to_dict",
    "validate",
]
