"""One Settings object, read once from the environment (prefix BUYU_)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as BUYU_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="BUYU_", extra="ignore")

    database_url: str = "sqlite:///./buyu.db"
    demo_date: date = date(2026, 11, 27)
    demo_loans: int = 1000
    demo_seed: int = 7
    host: str = "127.0.0.1"
    port: int = 8000
    # Twilio: an empty auth token refuses every webhook (nothing can be signed with it).
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = ""
    # The address Twilio is given for webhooks and the media stream (it signs these URLs).
    public_base_url: str = "http://127.0.0.1:8000"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached: settings are read once)."""
    return Settings()
