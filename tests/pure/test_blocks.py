"""Block Kit builders keep inside Slack's limits whatever the data (pure: no Slack, no database)."""

from __future__ import annotations

import pytest

from bot.render import blocks as kit
from bot.slack.ids import ActionId
from bot.slack_emulator import check_blocks


def test_a_huge_list_is_cut_to_its_blocks_and_counted() -> None:
    rendered: list[int] = []

    def render(n: int) -> str:
        rendered.append(n)
        return f"line {n} " + "&lt;x&gt; &amp; " * 300  # far longer than a line may be

    dicts = kit.listing(
        range(10_000),
        10_000,
        render,
        lambda n: f"…and {n} more",
        max_lines=1000,
        max_blocks=4,
        heading="*Heading*",
    )
    assert check_blocks(dicts) == []
    assert len(dicts) == 4
    texts = [block["text"]["text"] for block in dicts]
    assert all(len(text) <= 3000 for text in texts)
    lines = "\n".join(texts).split("\n")
    assert lines[0] == "*Heading*"
    shown = len(lines) - 2
    assert lines[-1] == f"…and {10_000 - shown} more"
    # Only what is shown was rendered (plus the one that did not fit), and cut cleanly.
    assert len(rendered) == shown + 1
    assert all(line.endswith("…") and "&amp…" not in line for line in lines[1:-1])


def test_a_short_list_has_no_more_line() -> None:
    [block] = kit.listing(
        ["a", "b"], 2, str, lambda n: f"and {n} more", max_lines=5, max_blocks=2, heading="*H*"
    )
    assert block["text"]["text"] == "*H*\na\nb"


def test_the_line_cap_counts_the_rest() -> None:
    [block] = kit.listing(
        range(7), 7, str, lambda n: f"and {n} more", max_lines=3, max_blocks=2, heading="*H*"
    )
    assert block["text"]["text"] == "*H*\n0\n1\n2\nand 4 more"


def test_more_than_fifty_blocks_is_refused_before_slack_sees_it() -> None:
    with pytest.raises(ValueError, match="51 blocks"):
        kit.checked([kit.divider()] * 51)


def test_a_list_without_heading_or_items_is_no_block() -> None:
    assert kit.listing([], 0, str, "and {} more".format, max_blocks=3) == []


def test_builders_cut_long_text_and_labels_to_slacks_limits() -> None:
    blocks = [
        kit.header("h" * 500),
        kit.section("word " * 1000),
        kit.context("&amp; " * 1000),
        kit.actions([kit.button("x" * 200, ActionId.DONE, "v")], block_id="b" * 400),
    ]
    assert check_blocks(blocks) == []
    assert len(blocks[0]["text"]["text"]) == 150
    assert blocks[1]["text"]["text"].endswith("word…")
    assert not blocks[2]["elements"][0]["text"].endswith("&…")
    assert len(blocks[3]["elements"][0]["text"]["text"]) == 75
    assert len(blocks[3]["block_id"]) == 255
