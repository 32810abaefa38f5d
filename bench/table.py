"""The one row shape every benchmark returns, and the table the runner prints.

Each benchmark module exposes ``async def run() -> list[Row]``; a ratio is always
``measured / baseline`` taken side by side in the same run, so a noisy machine cancels out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measured figure against its baseline, and the ratio it must stay under."""

    name: str
    measured: float
    baseline: float
    ratio: float
    target: float
    unit: str = "ms"

    @classmethod
    def of(
        cls, name: str, measured: float, baseline: float, target: float, unit: str = "ms"
    ) -> Row:
        """Build a row, computing the ratio (a zero baseline gives an infinite ratio)."""
        ratio = measured / baseline if baseline else float("inf")
        return cls(name, measured, baseline, ratio, target, unit)

    @property
    def met(self) -> bool:
        return self.ratio <= self.target


def _figure(value: float) -> str:
    if value == int(value) and abs(value) < 1e9:
        return f"{int(value)}"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table, so the runner's output pastes straight into the docs."""
    header = ("benchmark", "measured", "baseline", "ratio", "target", "met")
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.name,
                f"{_figure(row.measured)} {row.unit}".strip(),
                f"{_figure(row.baseline)} {row.unit}".strip(),
                f"{row.ratio:.2f}",
                f"≤ {row.target:g}",
                "yes" if row.met else "NO",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [fmt(lines[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(fmt(line) for line in lines[1:])
    return "\n".join(out)
