"""Small worlds for the simulator's pure-core tests (no database)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from buyu.simulation.harness import Book
from buyu.simulation.scenario import Scenario, parse_scenario, shipped_scenario
from buyu.simulation.views import AccountArrays, AccountView
from buyu.simulation.world import GroundTruth

BASE: dict[str, Any] = {
    "seed": 7, "accounts": 400, "collectors": 10, "days": 30, "robot_lines": 2, "field_share": 0.4,
    "willingness_shift": 0.0, "skill_spread": 0.5, "start_date": "2026-03-02",
}


def scenario(**overrides: Any) -> Scenario:
    """A small valid scenario; nested sections may be passed as dicts."""
    return parse_scenario({**BASE, **overrides})


def small_default(**update: Any) -> Scenario:
    """The shipped default scenario, shrunk for speed, with validated overrides (sections as dicts)."""
    data = shipped_scenario("default").model_dump(exclude_unset=True)
    return parse_scenario({**data, "accounts": 400, **update})


def start_views(truth: GroundTruth) -> list[AccountView]:
    """The delinquent book on the start date, as the product sees it."""
    return Book.start(truth).views(truth, truth.day)


def start_arrays(truth: GroundTruth) -> AccountArrays:
    """Start-date views as arrays."""
    return AccountArrays.from_views(start_views(truth))


def with_dpd(arrays: AccountArrays, dpd: int) -> AccountArrays:
    """The same accounts and money, moved to another DPD."""
    return AccountArrays(arrays.account_id, np.full(arrays.size, dpd, dtype=np.int64), arrays.balance_fen,
                         arrays.overdue_fen, arrays.open_ptp, arrays.cease, arrays.dispute, arrays.placed,
                         arrays.field_possible)


@pytest.fixture(scope="module")
def world() -> GroundTruth:
    """A fresh small world from the shrunk default scenario (shared read-only within a module)."""
    return GroundTruth.from_scenario(small_default())
