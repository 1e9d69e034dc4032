"""What the product can see, and what a policy says: the types shared by world, policies and the loop.

Nothing here is hidden ground truth. An `AccountView` is exactly what a real deployment would know
about an account on a given morning (borrower facts, ledger state, contact history, flags);
`Action` is one decision for the day. Hours are always the borrower's local hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class Treatment(StrEnum):
    """What we do to an account today. The order is the index used in arrays."""

    ROBOT_CALL = "robot_call"
    SMS = "sms"
    AGENT_CALL = "agent_call"
    FIELD_VISIT = "field_visit"
    AGENCY = "agency"
    LEGAL = "legal"
    SALE = "sale"
    NO_ACTION = "no_action"


TREATMENTS: tuple[Treatment, ...] = tuple(Treatment)
T_INDEX: dict[Treatment, int] = {t: i for i, t in enumerate(TREATMENTS)}
#: Treatments that talk to (or write to) the borrower: barred by cease and dispute flags.
CONTACT_TREATMENTS = frozenset({Treatment.ROBOT_CALL, Treatment.SMS, Treatment.AGENT_CALL, Treatment.FIELD_VISIT,
                                Treatment.AGENCY})
#: Treatments that need a collector of ours.
STAFFED_TREATMENTS = frozenset({Treatment.AGENT_CALL, Treatment.FIELD_VISIT})

#: Result codes of a contact attempt, as the product records them.
RESULT_CODES: tuple[str, ...] = (
    "no_answer", "busy", "voicemail", "wrong_party", "rpc", "ptp", "refused", "dispute", "callback", "ceased",
    "sms_sent", "visit_met", "visit_absent",
)
#: Codes for treatments that are not contact attempts (the loop books them as case events).
EVENT_CODES: tuple[str, ...] = ("agency_placed", "legal_filed", "sold", "no_action")
ALL_CODES: tuple[str, ...] = RESULT_CODES + EVENT_CODES
CODE_INDEX: dict[str, int] = {c: i for i, c in enumerate(ALL_CODES)}

BUCKETS: tuple[str, ...] = ("M0", "M1", "M2", "M3", "M4+")


def bucket_of(dpd: int) -> str:
    """M0 current, M1 1–30, M2 31–60, M3 61–90, M4+ over 90 (the ledger's rule; its module needs SQL)."""
    for upper, name in ((0, "M0"), (30, "M1"), (60, "M2"), (90, "M3")):
        if dpd <= upper:
            return name
    return "M4+"


def bucket_index(dpd: npt.ArrayLike) -> IntArray:
    """Bucket index per DPD: 0 = M0 … 4 = M4+ (vectorised; the ledger's rule lives in SQL too)."""
    return np.searchsorted(np.array([0, 30, 60, 90]), np.asarray(dpd), side="left").astype(np.int64)


@dataclass(frozen=True, slots=True)
class BorrowerProfile:
    """Observable facts about a borrower and their loan, fixed for the run.

    `paid_instalments` and `start_dpd` say how to book the loan in the real ledger so that on
    `start_date` it is `start_dpd` days past due: originate on `disbursed_on`, pay the first
    `paid_instalments` instalments on their due dates, miss every later one.
    """

    account_id: int
    external_ref: str
    product: str  # consumer | micro_merchant
    principal_fen: int
    term_months: int
    annual_rate_micro: int
    disbursed_on: date
    paid_instalments: int
    start_dpd: int
    income_band: str
    region: str
    timezone: str
    utc_offset_h: int
    language: str
    account_age_months: int
    prior_late_instalments: int
    contact_points: int
    #: Channel history before delinquency: share of service calls answered, and the channel used most.
    past_answer_rate: float
    past_channel: str  # call | sms | app
    field_possible: bool


@dataclass(frozen=True, slots=True)
class ContactCounts:
    """Contact history the product has logged for an account."""

    attempts_7d: int = 0
    rpc_7d: int = 0
    attempts_total: int = 0
    rpc_total: int = 0
    ptp_total: int = 0
    ptp_broken: int = 0
    complaints: int = 0
    days_since_contact: int | None = None


@dataclass(frozen=True, slots=True)
class AccountView:
    """One account as the product sees it on a morning: profile, ledger state, history, flags."""

    profile: BorrowerProfile
    dpd: int
    balance_fen: int
    overdue_fen: int
    history: ContactCounts = field(default_factory=ContactCounts)
    open_ptp_fen: int = 0
    open_ptp_due: date | None = None
    cease: bool = False
    dispute: bool = False
    #: "agency" or "legal" while the account is out of our hands.
    placement: str | None = None

    @property
    def account_id(self) -> int:
        """The account's id (the profile's)."""
        return self.profile.account_id

    @property
    def bucket(self) -> str:
        """Delinquency bucket from DPD."""
        return bucket_of(self.dpd)


@dataclass(frozen=True, slots=True)
class CollectorView:
    """A collector as the product sees them: kind, languages, region, capacity, tenure."""

    collector_id: int
    kind: str  # agent | field
    languages: tuple[str, ...]
    region: str  # field staff work one region; "" for agents
    minutes_per_day: int
    visits_per_day: int
    tenure_months: int


@dataclass(frozen=True, slots=True)
class Capacity:
    """The day's capacity and rules every policy must respect.

    Robot calls are limited per hour (lines are concurrent); agent calls by each agent's minutes per
    day and 60 minutes per hour; field visits by each field collector's visits per day (and so per
    region); agency by free slots; legal and sale by daily limits.
    """

    robot_calls_per_hour: int
    sms_per_day: int
    agent_minutes_per_call: int
    field_visits_by_region: Mapping[str, int]
    agency_slots: int
    legal_per_day: int
    sale_per_day: int
    call_hours: tuple[int, int]
    field_hours: tuple[int, int]
    sms_hours: tuple[int, int]
    min_dpd: Mapping[Treatment, int]

    def hours_for(self, treatment: Treatment) -> tuple[int, int]:
        """Allowed local start hours (inclusive) for a treatment."""
        if treatment is Treatment.FIELD_VISIT:
            return self.field_hours
        if treatment is Treatment.SMS:
            return self.sms_hours
        return self.call_hours


@dataclass(frozen=True, slots=True)
class Action:
    """One decision: treat `account_id` with `treatment` by `collector_id` at local `hour`.

    Omitted accounts get no action; a plan never needs explicit no_action entries.
    """

    account_id: int
    treatment: Treatment
    collector_id: int | None
    hour: int


@dataclass(frozen=True, slots=True)
class AccountArrays:
    """The dynamic part of a sequence of AccountViews as arrays, for vectorised policies and truth."""

    account_id: IntArray
    dpd: IntArray
    balance_fen: IntArray
    overdue_fen: IntArray
    open_ptp: BoolArray
    cease: BoolArray
    dispute: BoolArray
    placed: BoolArray
    field_possible: BoolArray

    @property
    def size(self) -> int:
        """Number of accounts."""
        return int(self.account_id.shape[0])

    @staticmethod
    def from_views(views: Sequence[AccountView]) -> AccountArrays:
        """Pack views into arrays (one pass; the loop may build AccountArrays directly instead)."""
        def ints(get: list[int]) -> IntArray:
            return np.asarray(get, dtype=np.int64)

        def flags(get: list[bool]) -> BoolArray:
            return np.asarray(get, dtype=np.bool_)

        return AccountArrays(
            account_id=ints([v.profile.account_id for v in views]),
            dpd=ints([v.dpd for v in views]),
            balance_fen=ints([v.balance_fen for v in views]),
            overdue_fen=ints([v.overdue_fen for v in views]),
            open_ptp=flags([v.open_ptp_fen > 0 for v in views]),
            cease=flags([v.cease for v in views]),
            dispute=flags([v.dispute for v in views]),
            placed=flags([v.placement is not None for v in views]),
            field_possible=flags([v.profile.field_possible for v in views]),
        )


def allowed_treatments(view: AccountView, capacity: Capacity) -> list[Treatment]:
    """Treatments the product's own rules allow for an account today (before capacity).

    Disputed or placed accounts get nothing; a cease-contact flag still allows legal and sale
    (they do not contact the borrower); field visits need a coverable address.
    """
    if view.dispute or view.placement is not None:
        return []
    allowed: list[Treatment] = []
    for t in TREATMENTS:
        if t is Treatment.NO_ACTION or (view.cease and t in CONTACT_TREATMENTS):
            continue
        if view.dpd < capacity.min_dpd.get(t, 1):
            continue
        if t is Treatment.FIELD_VISIT and (not view.profile.field_possible
                                           or capacity.field_visits_by_region.get(view.profile.region, 0) <= 0):
            continue
        allowed.append(t)
    return allowed
