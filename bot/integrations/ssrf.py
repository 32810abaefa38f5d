"""The SSRF guard (SPEC section 7): a hook URL must be http(s), and the host it resolves to must
not be a loopback, private, link-local or otherwise non-public address unless
`BATON_HOOK_ALLOW_PRIVATE=true`.

It is checked when a hook is added and again on every call, after DNS resolution, and the call
then connects to the very address that was checked (the URL's host still goes in the Host header
and TLS's SNI), so a name that re-resolves to an inside address between check and connect
(DNS rebinding) gets nowhere.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import httpx

from bot.integrations.dns import Resolver, system_resolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
__all__ = ["Refused", "Resolver", "Target", "Unresolved", "check", "refusal", "system_resolver"]
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
    """Why Baton will not connect to this address, or None if it may.

    IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4) are judged by that address, so
    `64:ff9b::a9fe:a9fe` is the metadata service it translates to, not a public IPv6 address.
    """
    if isinstance(address, ipaddress.IPv6Address):
        return _refusal_v6(address, allow_private=allow_private)
    return _refusal_v4(address, allow_private=allow_private)


def _refusal_v4(address: ipaddress.IPv4Address, *, allow_private: bool) -> str | None:
    if (hard := _never(address)) is not None or address == _BROADCAST:
        return hard or "a broadcast address"
    if allow_private or (address.is_global and address not in _IETF_V4):
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    return "a reserved, non-public address"


def _refusal_v6(address: ipaddress.IPv6Address, *, allow_private: bool) -> str | None:
    if (hard := _never(address)) is not None:
        return hard
    embedded = _embedded_v4(address)
    if embedded is not None:
        form, inside = embedded
        reason = _refusal_v4(inside, allow_private=allow_private)
        if reason is not None:
            return f"{form} of {inside}, {reason}"
        if address in _V4_COMPATIBLE and not allow_private:
            return "a deprecated IPv4-compatible address, which no public route reaches"
        return None
    if allow_private:
        return None
    for network, reason in _REFUSED_V6:
        if address in network:
            return reason
    if address not in _GLOBAL_UNICAST_V6 or not address.is_global:
        return "a reserved, non-public address"
    return None


def _never(address: IPAddress) -> str | None:
    """Addresses no setting allows: "this host" and groups."""
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    return None


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 form reaches, and the form's name; None for plain IPv6."""
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped address", address.ipv4_mapped
    if address.sixtofour is not None:
        return "a 6to4 address", address.sixtofour
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return "a NAT64 address", low32
    if address in _V4_COMPATIBLE and not address.is_loopback:
        return "an IPv4-compatible address", low32
    return None


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
# IETF protocol assignments: Python 3.11 calls most of 192.0.0.0/24 global.
_IETF_V4 = ipaddress.IPv4Network("192.0.0.0/24")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# IANA's global unicast space; anything outside it (and not an IPv4 form above) is refused.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
# Named so the refusal says what the address is; Python 3.11 calls several of these global.
_REFUSED_V6 = [
    (ipaddress.IPv6Network("::1/128"), "a loopback address"),
    (ipaddress.IPv6Network("fe80::/10"), "a link-local address"),
    (ipaddress.IPv6Network("fec0::/10"), "a site-local address"),
    (ipaddress.IPv6Network("fc00::/7"), "a unique-local (private) address"),
    (ipaddress.IPv6Network("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (ipaddress.IPv6Network("2001::/32"), "a Teredo tunnel address"),
    (ipaddress.IPv6Network("2001:db8::/32"), "a documentation address"),
    (ipaddress.IPv6Network("3fff::/20"), "a documentation address"),
    (ipaddress.IPv6Network("2001::/23"), "a reserved, non-public address"),
]


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
