"""Long answers in pages (`/baton history <run> 2`, `/baton status 2`): which items a page
holds, and the page number people type, checked against the pages there are.

Pages have a fixed size, so paging through them shows every item exactly once, in order, as
long as the list does not change in between."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import quoted, usage_error

MAX_PAGE_DIGITS = 6


@dataclass(frozen=True, slots=True)
class Page:
    """Page `number` (from 1) of `total` items, `size` a page. Newest-first pages count from
    the end of the list (page 1 holds the last items), the others from its start; either way
    a page's items are in the list's order."""

    number: int
    size: int
    total: int
    newest_first: bool = False

    @property
    def count(self) -> int:
        """The pages there are; an empty list still has its (empty) page 1."""
        return max(1, -(-self.total // self.size))

    @property
    def exists(self) -> bool:
        return 1 <= self.number <= self.count

    @property
    def start(self) -> int:
        """The list index of the page's first item."""
        if self.newest_first:
            return max(0, self.total - self.number * self.size)
        return min(self.total, (self.number - 1) * self.size)

    @property
    def stop(self) -> int:
        """The list index just after the page's last item."""
        if self.newest_first:
            return max(0, self.total - (self.number - 1) * self.size)
        return min(self.total, self.number * self.size)

    @property
    def following(self) -> int:
        """The items on page `number + 1` (older ones for newest-first pages)."""
        left = self.start if self.newest_first else self.total - self.stop
        return min(self.size, left)

    def span(self) -> str:
        """Where the page lies in the list, e.g. `41–80 of 301`."""
        return f"{self.start + 1}–{self.stop} of {self.total}"


def is_page_word(word: str) -> bool:
    """Whether `word` is written as a page number (ASCII digits), whatever its value."""
    return word.isascii() and word.isdigit()


def check_page(
    command: str, word: str | None, *, size: int, total: int, newest_first: bool, items: str
) -> Page:
    """The page `word` names (page 1 when there is no word), or a usage error naming the word
    and the pages there are. `items` names the whole list, e.g. "the 301 events of `x-3`"."""
    word = word or "1"
    # A longer number is past the end of any list Baton keeps (and int() of it costs time).
    number = int(word) if is_page_word(word) and len(word) <= MAX_PAGE_DIGITS else 0
    page = Page(number, size, total, newest_first)
    if page.exists:
        return page
    if is_page_word(word):
        problem = f"There is no page {quoted(word.lstrip('0') or '0')}"
    else:
        problem = f"{quoted(word)} is not a page number"
    if page.count > 1:
        there = f"fill pages 1 to {page.count}"
    else:
        there = "fits on page 1" if total == 1 else "fit on page 1"
    raise usage_error(command, f"{problem}: {items} {there}.")
