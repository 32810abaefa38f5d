"""Step buttons in DMs, `mine` and the App Home; the reason and reassign modals they open."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.errors import BatonError
from bot.core.states import StepAction
from bot.notify.home import request_home
from bot.notify.redraw import outcome_line, redraw, settled_blocks
from bot.people.permissions import Actor
from bot.render.modals import reason_modal, reassign_modal
from bot.runs.steps import StepChange, change_step
from bot.runtime import Runtime
from bot.slack.ids import ActionId, BlockId, CallbackId, InputId, StepRef
from bot.slack.inflight import InFlight
from handlers.listening import listener
from handlers.requests import ClickRequest, ViewSubmission

Ack = Callable[..., Awaitable[None]]

DIRECT_ACTIONS = {
    ActionId.START: StepAction.START,
    ActionId.DONE: StepAction.DONE,
    ActionId.UNBLOCK: StepAction.UNBLOCK,
    ActionId.APPROVE: StepAction.APPROVE,
    ActionId.CLAIM: StepAction.CLAIM,
    ActionId.SKIP: StepAction.SKIP,
    ActionId.RETRY: StepAction.RETRY,
}

# Buttons of messages that are not step DMs (those are redrawn from the step's state).
OWNER_ACTIONS = {StepAction.RETRY: "Retried", StepAction.SKIP: "Skipped"}


async def step_button(click: ClickRequest, step: StepRef, actor: Actor, runtime: Runtime) -> None:
    change = StepChange(DIRECT_ACTIONS[ActionId(click.action_id)])
    await change_step(runtime, actor, step.run, step.step, change)
    if click.view_id:  # clicked in the App Home: redraw it with the step's new state
        await request_home(runtime, click.team_id, click.user_id)
    elif change.action in OWNER_ACTIONS and click.message_ts:
        # The owner's failed-step or escalation DM: its buttons for this step are spent.
        outcome = outcome_line(OWNER_ACTIONS[change.action], click.user_id, runtime.clock)
        blocks = settled_blocks(click.message_blocks, click.block_id, outcome)
        if blocks is not None:
            await redraw(
                runtime,
                team_id=click.team_id,
                user_id=click.user_id,
                channel_id=click.channel_id,
                ts=click.message_ts,
                text=click.message_text,
                blocks=blocks,
            )


async def open_step_modal(click: ClickRequest, step: StepRef, client: AsyncWebClient) -> None:
    views = {
        ActionId.BLOCK: reason_modal(
            CallbackId.BLOCK, step, "Blocked", "What is in the way?", "Mark blocked"
        ),
        ActionId.REJECT: reason_modal(
            CallbackId.REJECT, step, "Reject", "Why reject it?", "Reject"
        ),
        ActionId.REASSIGN: reassign_modal(step),
    }
    await client.views_open(trigger_id=click.trigger_id, view=views[ActionId(click.action_id)])


async def submit_step_modal(
    ack: Ack, submission: ViewSubmission, step: StepRef, actor: Actor, runtime: Runtime
) -> None:
    callback = CallbackId(submission.callback_id)
    if callback == CallbackId.REASSIGN:
        user = submission.selected_user(BlockId.ASSIGNEE, InputId.USER)
        change = StepChange(StepAction.REASSIGN, new_assignee=user)
        if not user:
            await ack(response_action="errors", errors={BlockId.ASSIGNEE.value: "Pick someone."})
            return
    else:
        reason = submission.text(BlockId.REASON, InputId.TEXT)
        if not reason:
            await ack(response_action="errors", errors={BlockId.REASON.value: "Please say why."})
            return
        action = StepAction.BLOCK if callback == CallbackId.BLOCK else StepAction.REJECT
        change = StepChange(action, reason=reason)
    await change_step(runtime, actor, step.run, step.step, change)
    await ack()


def step_modal_errors(error: Exception, submission: ViewSubmission) -> dict[str, str] | None:
    """A refused change shows in the modal, which stays open: the only place Slack shows it."""
    if not isinstance(error, BatonError):
        return None
    reassign = submission.callback_id == CallbackId.REASSIGN
    field = BlockId.ASSIGNEE if reassign else BlockId.REASON
    return {field.value: str(error)[:150]}


def register(app: AsyncApp, inflight: InFlight) -> None:
    for action_id in DIRECT_ACTIONS:
        app.action(action_id.value)(listener(inflight, step_button))
    for action_id in (ActionId.BLOCK, ActionId.REJECT, ActionId.REASSIGN):
        app.action(action_id.value)(listener(inflight, open_step_modal))
    for callback in (CallbackId.BLOCK, CallbackId.REJECT, CallbackId.REASSIGN):
        app.view(callback.value)(listener(inflight, submit_step_modal, in_modal=step_modal_errors))
