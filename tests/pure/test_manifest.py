"""manifest.yml must create the app as it is: valid against Slack's own schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT.parent / "shared" / "slack"


def load_manifest() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert isinstance(data, dict)
    return data


def schema_for(manifest: dict[str, Any]) -> dict[str, Any]:
    major = manifest.get("_metadata", {}).get("major_version", 1)
    schema = json.loads((SCHEMAS / f"manifest.schema.{major}.0.0.json").read_text())
    assert isinstance(schema, dict)
    return schema


def test_manifest_is_valid_against_slacks_schema() -> None:
    manifest = load_manifest()
    jsonschema.validate(manifest, schema_for(manifest))


def test_manifest_declares_what_baton_uses() -> None:
    manifest = load_manifest()
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/baton"
    assert command["should_escape"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "im:write", "users:read", "usergroups:read"} <= scopes
    # Posting into public channels Baton is not in, and joining one to read back a post
    # whose answer was lost (bot/notify.py).
    assert {"chat:write.public", "channels:history", "channels:join"} <= scopes
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]


def test_a_broken_manifest_is_caught() -> None:
    manifest = load_manifest()
    manifest["features"]["slash_commands"][0]["command"] = "baton"  # no leading slash
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(manifest, schema_for(manifest))
