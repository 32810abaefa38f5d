"""The SSRF guard (SPEC section 7): a hook URL must be http(s), and the host it resolves to must
not be a loopback, private, link-local or otherwise non-public address unless
`BATON_HOOK_ALLOW_PRIVATE=true`.

It is checked when a hook is added and again on every call, after DNS resolution, and the call
then connects to the very address that was checked (the URL's host still goes in the Host header
and TLS's SNI), so a name that re-resolves to an inside address between check and connect
(DNS rebinding) gets nowhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
SCHEMES = ("http", "https")


class Refused(Exception):
    """A URL Baton will not call; the message says why, for the person who gave it."""


class Unresolved(Refused):
    """The host has no usable address right now; unlike a refusal this may pass later."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL and the address to connect to for it."""

    url: httpx.URL
    address: str

    @property
    def pinned_url(self) -> httpx.URL:
        return self.url.copy_with(host=self.address)

    @property
    def host_header(self) -> str:
        return self.url.netloc.decode("ascii")


def parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError):
        raise Refused("that is not a URL") from None
    if parsed.scheme not in SCHEMES:
        raise Refused("the URL must start with http:// or https://")
    if not parsed.host:
        raise Refused("the URL has no host")
    if parsed.userinfo:
        raise Refused("leave credentials out of the URL: Baton signs every request instead")
    return parsed


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why Baton will not connect to this address, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        return "an unspecified or multicast address"
    if address.is_global or allow_private:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    return "a reserved, non-public address"


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


async def check(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> Target:
    """Resolve the URL's host and return where to connect, or raise Refused.

    Every address the name resolves to must pass, so a name with one public and one private
    record cannot slip through.
    """
    parsed = parse(url)
    host = parsed.host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        found = await resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise Unresolved(f"{host} does not resolve: {exc}") from None
    addresses: list[IPAddress] = []
    for text in found:
        try:
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            raise Unresolved(f"{host} resolved to {text!r}, which is not an address") from None
    if not addresses:
        raise Unresolved(f"{host} does not resolve to any address")
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            raise Refused(
                f"{host} resolves to {address}, {reason}; Baton calls only public addresses "
                "unless BATON_HOOK_ALLOW_PRIVATE=true"
            )
    return Target(parsed, str(addresses[0]))
