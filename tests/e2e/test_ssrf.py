"""The SSRF guard against IPv6 forms of inside addresses: at `hook add` (literal addresses and
names), at call time after resolution, and redirects, over real HTTP."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.app.server import start_server
from bot.integrations import ssrf
from storage.db import unit_of_work
from storage.models import Integration
from tests.stack import Stack, open_stack
from tests.workflows import PROVISION, add_hook

# An address, and what the refusal must say about it.
INSIDE_V6 = [
    ("64:ff9b::a9fe:a9fe", "a NAT64 address of 169.254.169.254, a link-local address"),
    ("64:ff9b::7f00:1", "a NAT64 address of 127.0.0.1, a loopback address"),
    ("64:ff9b:1::a00:1", "a local-use NAT64 address"),
    ("2002:a00:1::", "a 6to4 address of 10.0.0.1, a private address"),
    ("2002:7f00:1::1", "a 6to4 address of 127.0.0.1, a loopback address"),
    ("::10.0.0.1", "an IPv4-compatible address of 10.0.0.1, a private address"),
    ("::8.8.8.8", "a deprecated IPv4-compatible address"),
    ("::ffff:10.0.0.1", "an IPv4-mapped address of 10.0.0.1, a private address"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "a Teredo tunnel address"),
    ("fec0::1", "a site-local address"),
    ("fd12:3456::1", "a unique-local (private) address"),
    ("fe80::1", "a link-local address"),
    ("ff02::1", "a multicast address"),
    ("2001:db8::1", "a documentation address"),
    ("3fff::1", "a documentation address"),
    ("::", "an unspecified"),
    ("::1", "a loopback address"),
    ("100::1", "a reserved, non-public address"),  # discard-only
    ("5f00::1", "a reserved, non-public address"),  # outside global unicast 2000::/3
]


@pytest.mark.parametrize(("address", "why"), INSIDE_V6)
def test_every_ipv6_form_of_an_inside_address_is_refused(address: str, why: str) -> None:
    reason = ssrf.refusal(ipaddress.ip_address(address), allow_private=False)
    assert reason is not None and why in reason


def test_ipv6_forms_of_public_addresses_pass() -> None:
    for public in ["2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"]:
        assert ssrf.refusal(ipaddress.ip_address(public), allow_private=False) is None, public
    # The setting lets inside addresses through, but never "this host" or a group.
    assert ssrf.refusal(ipaddress.ip_address("64:ff9b::a00:1"), allow_private=True) is None
    assert ssrf.refusal(ipaddress.ip_address("64:ff9b::0.0.0.0"), allow_private=True)
    assert ssrf.refusal(ipaddress.ip_address("ff02::1"), allow_private=True)


def resolving(table: dict[str, list[str]]) -> ssrf.Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


async def integrations(stack: Stack) -> list[Integration]:
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        return list((await session.exec(select(Integration))).all())


async def test_hook_add_refuses_ipv6_literals_that_reach_inside(stack: Stack) -> None:
    for address, why in INSIDE_V6:
        await stack.command(f"hook add okta <http://[{address}]:8080/hook>", user="U0DAVE")
        said = stack.ephemeral("U0DAVE")
        assert "Baton will not call" in said and why in said, (address, said)
    assert await integrations(stack) == []


async def test_hook_add_refuses_a_name_that_resolves_to_an_inside_ipv6_form(stack: Stack) -> None:
    stack.baton.runtime.resolver = resolving(
        {
            "nat64.example.com": ["2606:4700::1111", "64:ff9b::a00:5"],
            "sixtofour.example.com": ["2002:a9fe:a9fe::1"],
            "hooks.example.com": ["2606:4700::1111"],
        }
    )
    await stack.command("hook add okta <https://nat64.example.com/hook>", user="U0DAVE")
    assert (
        "nat64.example.com resolves to 64:ff9b::a00:5, a NAT64 address of 10.0.0.5, "
        "a private address" in stack.ephemeral("U0DAVE")
    )
    await stack.command("hook add okta <https://sixtofour.example.com/hook>", user="U0DAVE")
    assert "a 6to4 address of 169.254.169.254" in stack.ephemeral("U0DAVE")
    assert await integrations(stack) == []

    await add_hook(stack, "okta", "https://hooks.example.com/hook")  # a public one still works
    assert [row.url for row in await integrations(stack)] == ["https://hooks.example.com/hook"]


async def test_a_name_that_moves_inside_is_refused_at_call_time(stack: Stack) -> None:
    stack.baton.runtime.resolver = resolving({"hooks.example.com": ["2606:4700::1111"]})
    await add_hook(stack, "okta", "https://hooks.example.com/hook")
    await stack.command(PROVISION, user="U0BOB")
    await stack.command("run provision", user="U0BOB")
    assert "Started `provision-1`" in stack.ephemeral("U0BOB")
    # DNS rebinding: by the time the call is made the name points at the metadata service.
    stack.baton.runtime.resolver = resolving({"hooks.example.com": ["64:ff9b::a9fe:a9fe"]})

    await stack.sweep()

    assert (await stack.steps("provision-1"))[
        "accounts"
    ].state == "failed"  # at once: retrying cannot help
    assert (
        "hooks.example.com resolves to 64:ff9b::a9fe:a9fe, a NAT64 address of 169.254.169.254"
        in stack.dm_for("U0BOB").text
    )


@pytest.fixture
async def redirector() -> AsyncIterator[tuple[str, list[str]]]:
    """A hook that redirects to an inside path; yields its URL and the paths it was asked for."""
    asked: list[str] = []

    async def redirect(request: Request) -> Response:
        asked.append(request.url.path)
        return RedirectResponse(f"http://127.0.0.1:{request.url.port}/inside", status_code=307)

    async def inside(request: Request) -> Response:
        asked.append(request.url.path)
        return Response("metadata")

    app = Starlette(routes=[Route("/hook", redirect, methods=["POST"]), Route("/inside", inside)])
    server = await start_server(app)
    try:
        yield f"http://127.0.0.1:{server.port}/hook", asked
    finally:
        await server.stop()


async def test_redirects_are_never_followed(
    database_url: str, redirector: tuple[str, list[str]]
) -> None:
    url, asked = redirector
    async with open_stack(database_url, public_url=True, BATON_HOOK_ALLOW_PRIVATE=True) as stack:
        await add_hook(stack, "okta", url)
        await stack.command(PROVISION, user="U0BOB")
        await stack.command("run provision", user="U0BOB")
        await stack.sweep()

        assert asked == ["/hook"]  # never /inside
        assert (await stack.steps("provision-1"))["accounts"].state == "failed"
        assert "answered 307" in stack.dm_for("U0BOB").text
