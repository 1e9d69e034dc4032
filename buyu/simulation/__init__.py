"""Portfolio simulator, pure core: scenarios, a hidden ground truth, and policies.

No database, web framework or settings here. The day-by-day loop that drives the real ledger and
collections tables uses this core; `harness` is an in-memory stand-in used by tests.

    scenario  = load_scenario("scenarios/default.yaml")
    truth     = GroundTruth.from_scenario(scenario)      # borrowers, loans, collectors, hidden traits
    policy    = make_policy("champion")                   # or "random", "oracle"
    actions   = policy.plan(day=truth.day, accounts=views, collectors=truth.collectors,
                            capacity=truth.capacity(agency_in_use=k), rng=policy_rng(seed, policy.name, day),
                            truth=truth if policy.uses_truth else None)
    outcomes  = truth.draw_contacts(accounts=..., treatment=..., collector_ids=..., hour=..., rng=...)
    truth.record_contacts(...); truth.draw_self_payments(...); truth.draw_due_payments(...)
    truth.advance_day()
"""

from buyu.simulation.policies import (
    POLICIES,
    ChampionPolicy,
    OraclePolicy,
    Policy,
    RandomPolicy,
    check_plan,
    make_policy,
    policy_rng,
)
from buyu.simulation.scenario import Scenario, ScenarioError, load_scenario, parse_scenario, shipped_scenario
from buyu.simulation.views import (
    AccountArrays,
    AccountView,
    Action,
    BorrowerProfile,
    Capacity,
    CollectorView,
    ContactCounts,
    Treatment,
    allowed_treatments,
)
from buyu.simulation.world import (
    ContactOutcome,
    GroundTruth,
    Outcomes,
    PlannedPayment,
    Promise,
    Responses,
    TrueResponse,
)

__all__ = [
    "POLICIES",
    "AccountArrays",
    "AccountView",
    "Action",
    "BorrowerProfile",
    "Capacity",
    "ChampionPolicy",
    "CollectorView",
    "ContactCounts",
    "ContactOutcome",
    "GroundTruth",
    "OraclePolicy",
    "Outcomes",
    "PlannedPayment",
    "Policy",
    "Promise",
    "RandomPolicy",
    "Responses",
    "Scenario",
    "ScenarioError",
    "Treatment",
    "TrueResponse",
    "allowed_treatments",
    "check_plan",
    "load_scenario",
    "make_policy",
    "parse_scenario",
    "policy_rng",
    "shipped_scenario",
]
