"""Settings read once from the environment (and `.env`), named exactly as SPEC section 9 says."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class SettingsError(Exception):
    """A missing or malformed setting; the message is one line naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    SLACK_BOT_TOKEN: str | None = None
    SLACK_SIGNING_SECRET: str | None = None
    SLACK_CLIENT_ID: str | None = None
    SLACK_CLIENT_SECRET: str | None = None
    SLACK_APP_TOKEN: str | None = None
    SLACK_API_URL: str = DEFAULT_SLACK_API_URL
    BATON_DATABASE_URL: str = "sqlite:///baton.db"
    BATON_HOST: str = "127.0.0.1"
    BATON_PORT: int = Field(default=3000, ge=0, le=65535)
    BATON_PUBLIC_URL: str | None = None
    BATON_ADMINS: Annotated[frozenset[str], NoDecode] = frozenset()
    BATON_TICK_SECONDS: float = Field(default=15.0, gt=0)
    BATON_HOOK_ALLOW_PRIVATE: bool = False
    BATON_TEMPLATE_DIR: Path | None = None
    BATON_SECRET_KEY: str | None = None

    @field_validator("BATON_ADMINS", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("SLACK_API_URL")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("BATON_DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("BATON_PUBLIC_URL")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL, e.g. https://baton.example.com")
        return value

    @field_validator("BATON_TEMPLATE_DIR")
    @classmethod
    def _template_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.SLACK_CLIENT_ID and self.SLACK_CLIENT_SECRET)

    @property
    def has_slack_credentials(self) -> bool:
        return bool(self.SLACK_BOT_TOKEN or self.oauth_enabled)

    @property
    def public_url(self) -> str:
        return (self.BATON_PUBLIC_URL or f"http://{self.BATON_HOST}:{self.BATON_PORT}").rstrip("/")

    def require_slack(self) -> None:
        """What `serve` needs: a signing secret and either a bot token or OAuth credentials."""
        if not self.SLACK_SIGNING_SECRET:
            raise SettingsError(
                "SLACK_SIGNING_SECRET is missing: copy it from your Slack app's "
                "Basic Information page"
            )
        if self.SLACK_CLIENT_ID and not self.SLACK_CLIENT_SECRET:
            raise SettingsError(
                "SLACK_CLIENT_SECRET is missing: OAuth needs it with SLACK_CLIENT_ID"
            )
        if self.SLACK_CLIENT_SECRET and not self.SLACK_CLIENT_ID:
            raise SettingsError(
                "SLACK_CLIENT_ID is missing: OAuth needs it with SLACK_CLIENT_SECRET"
            )
        if not self.has_slack_credentials:
            raise SettingsError(
                "SLACK_BOT_TOKEN is missing: set it (one workspace) or SLACK_CLIENT_ID and "
                "SLACK_CLIENT_SECRET (OAuth), or run `baton console` to try Baton without Slack"
            )


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        # A validator's own sentence, without pydantic's "Value error, " before it.
        reason = first.get("ctx", {}).get("error") if first["type"] == "value_error" else None
        raise SettingsError(f"{name} is malformed: {reason or first['msg']}") from None
