"""The foundation over real HTTP: signatures, url_verification, health, help."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

import httpx

from tests.stack import SIGNING_SECRET, Stack


async def test_help_answers_ephemerally(stack: Stack) -> None:
    await stack.command("help", user="U0ALICE")
    text = stack.ephemeral("U0ALICE")
    assert "/baton define" in text
    assert "/baton run" in text


async def test_help_on_one_command(stack: Stack) -> None:
    await stack.command("help run", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").startswith("`/baton run &lt;name&gt;")


async def test_unknown_subcommand_suggests_the_nearest(stack: Stack) -> None:
    await stack.command("stauts", user="U0ALICE")
    text = stack.ephemeral("U0ALICE")
    assert "`stauts` is not a Baton command" in text
    assert "Did you mean `/baton status`?" in text


def _signed(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> dict[str, str]:
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def test_bad_or_stale_signatures_get_401_and_touch_nothing(stack: Stack) -> None:
    response_url = stack.emulator.new_response_url("C0GENERAL", "U0ALICE")
    body = urlencode(
        {
            "command": "/baton",
            "text": "help",
            "team_id": "T0BATON",
            "user_id": "U0ALICE",
            "channel_id": "C0GENERAL",
            "response_url": response_url,
        }
    ).encode()
    calls_before = len(stack.emulator.calls)
    async with httpx.AsyncClient() as client:
        forged = await client.post(
            f"{stack.url}/slack/events",
            content=body,
            headers=_signed(body, int(time.time()), secret="wrong"),
        )
        stale = await client.post(
            f"{stack.url}/slack/events",
            content=body,
            headers=_signed(body, int(time.time()) - 301),
        )
        fresh = await client.post(
            f"{stack.url}/slack/events", content=body, headers=_signed(body, int(time.time()))
        )
    assert forged.status_code == 401
    assert stale.status_code == 401
    assert fresh.status_code == 200  # the same body, signed right, is accepted
    await stack.settle()
    # Only the signed request was answered: one ephemeral help, nothing else sent.
    assert len(stack.emulator.ephemerals("U0ALICE")) == 1
    methods = [call.method for call in stack.emulator.calls[calls_before:]]
    assert "chat.postMessage" not in methods


async def test_url_verification_answers_the_challenge(stack: Stack) -> None:
    response = await stack.driver.url_verification(
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    )
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


async def test_healthz_reports_the_database(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{stack.url}/healthz")
        metrics = await client.get(f"{stack.url}/metrics")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schema_revision"]
    assert "baton_outbox_depth" in metrics.text
