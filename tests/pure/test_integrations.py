"""The pure parts of integrations: signatures, the SSRF guard, sealed secrets, reading answers."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from bot.integrations import secrets, ssrf
from bot.integrations.answers import Malformed, Verdict, judge, parse_report
from bot.integrations.openapi import CALLBACK_OPENAPI
from bot.integrations.signing import (
    BadSignature,
    callback_token,
    signature,
    signed_headers,
    token_matches,
    token_timer,
    verify,
)

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SECRET = "bsec_test"

# -- signing -----------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event":"step.ready"}'
    expected = hmac.new(SECRET.encode(), b"1795420800." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1795420800, body) == f"v1={expected}"
    headers = signed_headers(SECRET, body, NOW)
    assert headers == {"X-Baton-Timestamp": "1795420800", "X-Baton-Signature": f"v1={expected}"}


def test_verify_accepts_a_fresh_signature_and_one_of_several() -> None:
    body = b'{"status":"done"}'
    signed = signature(SECRET, int(NOW.timestamp()), body)
    verify(SECRET, timestamp=str(int(NOW.timestamp())), signed=signed, body=body, now=NOW)
    later = NOW + timedelta(seconds=299)
    verify(
        SECRET, timestamp=str(int(NOW.timestamp())), signed=f"v1=00, {signed}", body=body, now=later
    )


@pytest.mark.parametrize(
    ("timestamp", "signed", "body", "now", "why"),
    [
        (None, "v1=00", b"{}", NOW, "both required"),
        ("1795420800", None, b"{}", NOW, "both required"),
        ("yesterday", "v1=00", b"{}", NOW, "Unix seconds"),
        ("1795420800", "v1=00", b"{}", NOW, "does not match"),
        ("1795420800", "SIG", b'{"status":"failed"}', NOW, "does not match"),  # body changed
        ("1795420800", "SIG", b"{}", NOW + timedelta(seconds=301), "5 minutes"),
        ("1795420800", "SIG", b"{}", NOW - timedelta(seconds=301), "5 minutes"),
    ],
)
def test_verify_refuses(
    timestamp: str | None, signed: str | None, body: bytes, now: datetime, why: str
) -> None:
    if signed == "SIG":
        signed = signature(SECRET, 1795420800, b"{}")
    with pytest.raises(BadSignature, match=why):
        verify(SECRET, timestamp=timestamp, signed=signed, body=body, now=now)
    with pytest.raises(BadSignature):
        verify(
            "bsec_other",
            timestamp="1795420800",
            signed=signature(SECRET, 1795420800, body),
            body=body,
            now=NOW,
        )


def test_callback_tokens_name_a_timer_and_need_the_secret() -> None:
    token = callback_token(42, SECRET)
    assert token_timer(token) == 42
    assert token_matches(token, SECRET)
    assert not token_matches(token, "bsec_other")
    assert not token_matches(callback_token(43, SECRET).replace("43.", "42."), SECRET)
    tag = token.partition(".")[2]
    for bad in [
        "",
        "42",
        f"x.{tag}",
        f"0.{tag}",
        f"{2**31}.{tag}",
        f"99999999999.{tag}",
        f"42.{tag.upper()}",
        f"42.{tag[:-1]}",
        f"٤٢.{tag}",
    ]:
        assert token_timer(bad) is None, bad


# -- the SSRF guard ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.0.0.8", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("100.64.0.1", "reserved"),  # carrier-grade NAT
        ("240.0.0.1", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    reason = ssrf.refusal(ipaddress.ip_address(address), allow_private=False)
    assert reason is not None and why in reason


def test_public_addresses_pass_and_the_setting_allows_private_ones() -> None:
    for public in ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"]:
        assert ssrf.refusal(ipaddress.ip_address(public), allow_private=False) is None
    for inside in ["127.0.0.1", "10.0.0.8", "::1", "169.254.1.1"]:
        assert ssrf.refusal(ipaddress.ip_address(inside), allow_private=True) is None
    # Never an address that means "this host" or a group, setting or not.
    assert ssrf.refusal(ipaddress.ip_address("0.0.0.0"), allow_private=True) is not None


def resolver_of(*addresses: str) -> ssrf.Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if not addresses:
            raise OSError("Name or service not known")
        return list(addresses)

    return resolve


async def test_check_resolves_and_pins_the_checked_address() -> None:
    target = await ssrf.check(
        "https://hooks.example.com:8443/baton?x=1",
        allow_private=False,
        resolver=resolver_of("93.184.216.34"),
    )
    assert str(target.pinned_url) == "https://93.184.216.34:8443/baton?x=1"
    assert target.host_header == "hooks.example.com:8443"
    assert target.url.host == "hooks.example.com"


async def test_check_refuses_a_name_with_any_inside_address() -> None:
    with pytest.raises(ssrf.Refused, match=re.escape("10.0.0.1, a private address")):
        await ssrf.check(
            "https://rebind.example.com/",
            allow_private=False,
            resolver=resolver_of("93.184.216.34", "10.0.0.1"),
        )


async def test_check_after_real_resolution_refuses_localhost() -> None:
    with pytest.raises(ssrf.Refused, match="loopback"):
        await ssrf.check("http://localhost:9/", allow_private=False)
    target = await ssrf.check("http://localhost:9/", allow_private=True)
    assert ipaddress.ip_address(target.address).is_loopback


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https://user:pw@example.com/", "credentials"),
        ("http://", "no host"),
    ],
)
async def test_check_refuses_urls_that_are_not_plain_http(url: str, why: str) -> None:
    with pytest.raises(ssrf.Refused, match=why):
        await ssrf.check(url, allow_private=True, resolver=resolver_of("93.184.216.34"))


async def test_an_unresolvable_host_may_pass_later() -> None:
    with pytest.raises(ssrf.Unresolved, match="does not resolve"):
        await ssrf.check("https://nowhere.invalid/", allow_private=False, resolver=resolver_of())


# -- secrets -----------------------------------------------------------------------------------


def test_secrets_are_random_and_sealed_only_with_a_key() -> None:
    made = {secrets.generate() for _ in range(20)}
    assert len(made) == 20
    assert all(s.startswith("bsec_") and len(s) > 40 for s in made)
    secret = made.pop()
    assert secrets.seal(secret, None) == secret
    assert secrets.unseal(secret, None) == secret
    assert secrets.unseal(secret, "a key set later") == secret  # rows from before the key


@pytest.mark.parametrize("key", ["a long operator password", Fernet.generate_key().decode()])
def test_sealed_secrets_open_only_with_their_key(key: str) -> None:
    sealed = secrets.seal("bsec_abc", key)
    assert sealed.startswith("fernet:")
    assert "bsec_abc" not in sealed
    assert secrets.unseal(sealed, key) == "bsec_abc"
    with pytest.raises(secrets.SecretUnavailable, match="another BATON_SECRET_KEY"):
        secrets.unseal(sealed, "some other key")
    with pytest.raises(secrets.SecretUnavailable, match="not set"):
        secrets.unseal(sealed, None)


# -- reading answers and callbacks -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, b'{"status": "done", "output": {"login": "ana"}}', Verdict.DONE),
        (201, b"", Verdict.DONE),
        (204, b"", Verdict.DONE),
        (200, b"not json", Verdict.DONE),
        (202, b"", Verdict.ACCEPTED),
        (200, b'{"status": "accepted"}', Verdict.ACCEPTED),
        (200, b'{"status": "failed", "message": "no seats"}', Verdict.FAILED),
        (301, b"", Verdict.FAILED),
        (400, b"bad", Verdict.FAILED),
        (404, b"", Verdict.FAILED),
        (408, b"", Verdict.FAILED),
        (429, b"", Verdict.RETRY),
        (500, b"", Verdict.RETRY),
        (503, b"", Verdict.RETRY),
    ],
)
def test_judge_follows_spec_section_7(status: int, body: bytes, verdict: Verdict) -> None:
    assert judge(status, body, {}).verdict == verdict


def test_judge_keeps_output_and_reads_retry_after() -> None:
    done = judge(200, b'{"status": "done", "output": {"login": "ana"}}', {})
    assert done.output == {"login": "ana"}
    assert judge(200, b'{"output": [1, 2]}', {}).output == {}  # not an object: not kept
    assert judge(429, b"", {"retry-after": "120"}).retry_after == 120.0
    assert judge(503, b"", {"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}).retry_after is None
    assert "no such group" in judge(422, b'{"error": "no such group"}', {}).message


def test_parse_report_reads_done_and_failed() -> None:
    done = parse_report(b'{"status": "done", "output": {"ticket": "T-1", "n": [1, {"a": null}]}}')
    assert done.done and done.output == {"ticket": "T-1", "n": [1, {"a": None}]}
    assert parse_report(b'{"status": "done"}').output == {}
    failed = parse_report(b'{"status": "failed", "message": "seat limit"}')
    assert not failed.done and failed.message == "seat limit"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"status": "finished"}', '"done" or "failed"'),
        (b'{"status": "done", "output": [1]}', "output must be a JSON object"),
        (b'{"status": "done", "output": {"x": NaN}}', "NaN is not JSON"),
        (b'{"status": "done", "output": {"x": "a\\u0000b"}}', "NUL"),
        (b'{"status": "done", "output": {"x": "\\ud800"}}', "unpaired surrogate"),
        (b'{"status": "failed", "message": 3}', "message must be a string"),
        (b'{"status": "done", "outputs": {}}', "unknown field 'outputs'"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"status": "done", "output": {"x": "' + b"y" * 20_000 + b'"}}', "at most 16384"),
    ],
)
def test_parse_report_refuses_with_a_reason(raw: bytes, why: str) -> None:
    with pytest.raises(Malformed, match=why):
        parse_report(raw)


def test_the_openapi_examples_are_what_the_endpoint_accepts() -> None:
    body = CALLBACK_OPENAPI["paths"]["/hooks/callback/{token}"]["post"]["requestBody"]
    examples = body["content"]["application/json"]["examples"]
    assert {
        name: parse_report(json.dumps(e["value"]).encode()).done for name, e in examples.items()
    } == {"done": True, "failed": False}
