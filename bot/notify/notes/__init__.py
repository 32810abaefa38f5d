"""The renderers of Baton's own notification kinds: each draws its message from the database
as it is when the note goes out (other modules add theirs with `Deliverer.handle`)."""

from __future__ import annotations

from bot.notify.claims import FirstPost
from bot.notify.handler import Handler
from bot.notify.notes import given_text, run_cards, step_dms
from storage.vocabulary import Note

# Each kind's handler, and where its first post goes when that is known before it runs.
OWN: dict[str, tuple[Handler, FirstPost | None]] = {
    Note.RUN_CARD: (run_cards.run_card_note, run_cards.card_first_post),
    Note.RUN_EVENT: (run_cards.run_event_note, run_cards.event_first_post),
    Note.STEP_READY: (step_dms.step_ready_note, None),
    Note.STEP_REFRESH: (step_dms.step_refresh_note, None),
    Note.DIRECT: (given_text.direct_note, given_text.direct_first_post),
    Note.REDRAW: (given_text.redraw_note, None),
}
