"""Strategy documents for tests: the shipped default, renamed per test so committed rows never collide."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = ROOT / "strategies" / "default.yaml"
US_FILE = ROOT / "strategies" / "examples" / "us_cards.yaml"
_DEFAULT: dict[str, Any] = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))


def default_doc(portfolio: str | None = None) -> dict[str, Any]:
    """A fresh copy of strategies/default.yaml, for a portfolio of its own."""
    doc = copy.deepcopy(_DEFAULT)
    doc["portfolio"] = portfolio or unique_portfolio()
    return doc


def unique_portfolio() -> str:
    """A portfolio name no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"


def as_text(doc: dict[str, Any]) -> str:
    """A document as the YAML a manager would write."""
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
