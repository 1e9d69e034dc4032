"""Input validation: bad problems raise ProblemError (an InvalidInput and a ValueError) naming the field."""

from __future__ import annotations

import pytest

from buyu.errors import InvalidInput
from buyu.optimizer import (
    Account,
    Collector,
    Option,
    Problem,
    ProblemError,
    Resource,
    Treatment,
    make_option,
)
from tests.optimizer.helpers import call

STAFF = (Collector(id="c1", minutes=60), Collector(id="f1", minutes=240, region="north"))
POOL = (Resource("robot_lines", 10), Resource("field:north", 2))


def day(*accounts: Account, **kw: object) -> Problem:
    return Problem(accounts=accounts, collectors=STAFF, resources=POOL, **kw)  # type: ignore[arg-type]


def test_problem_error_is_a_value_error_with_the_field() -> None:
    """ProblemError subclasses ValueError and carries the field path in `field` and the message."""
    with pytest.raises(ValueError, match=r"^Option\.value: ") as info:
        Option(treatment=Treatment.SMS, value=1.5, uses=(("sms", 1),))  # type: ignore[arg-type]
    assert isinstance(info.value, ProblemError)
    assert info.value.field == "Option.value"


def test_problem_error_is_the_projects_invalid_input() -> None:
    """ProblemError is a BuyuError (InvalidInput), so the one API/CLI handler reports it with a
    machine-readable code and the offending field in the details."""
    with pytest.raises(InvalidInput) as info:
        Problem(accounts=(), balance_band=-1)
    assert info.value.code == "invalid_problem" and info.value.http_status == 422
    assert info.value.to_dict()["error"]["details"] == {"field": "balance_band"}


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Option(treatment=Treatment.SMS, value=True, uses=(("sms", 1),)), "Option.value"),
        (lambda: Option(treatment=Treatment.AGENT_CALL, value=1, uses=(("sms", 1),)), "Option.collector"),
        (lambda: Option(treatment=Treatment.SMS, value=1, collector="c1", uses=(("sms", 1),)), "Option.collector"),
        (lambda: Option(treatment=Treatment.SMS, value=1, uses=(("sms", 0),)), "Option.uses[0].amount"),
        (lambda: Option(treatment=Treatment.SMS, value=1, uses=(("sms", 1), ("sms", 1))), "Option.uses[1].resource"),
        (lambda: Option(treatment=Treatment.AGENT_CALL, value=1, collector="c1", uses=(("sms", 1),)), "Option.uses"),
        (lambda: Option(treatment=Treatment.NO_ACTION, value=5), "Option.treatment"),
        (lambda: Option(treatment="sms", value=1), "Option.treatment"),  # type: ignore[arg-type]
        (lambda: Resource("robot_lines", -1), "Resource.capacity"),
        (lambda: Resource("collector:c1", 5), "Resource.name"),
        (lambda: Resource("", 5), "Resource.name"),
        (lambda: Collector(id="c1", minutes=30.0), "Collector.minutes"),  # type: ignore[arg-type]
        (lambda: Collector(id=" c1", minutes=30), "Collector.id"),
        (lambda: Account(id="a1", options=[call("c1", 5, 5)]), "Account.options"),  # type: ignore[arg-type]
        (lambda: Account(id="a1", options=(call("c1", 5, 5), call("c1", 6, 5))), "Account.options[1]"),
        (lambda: make_option(treatment=Treatment.FIELD_VISIT, value=5, collector="f1", minutes=60), "region"),
    ],
)
def test_dataclasses_refuse_bad_fields(build: object, field: str) -> None:
    """Each dataclass validates itself at construction: floats and bools for money, empty or reserved
    names, non-positive amounts, missing or extra collectors, duplicates."""
    with pytest.raises(ProblemError) as info:
        build()  # type: ignore[operator]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("accounts", "kw", "field"),
    [
        ((Account(id="a", options=()), Account(id="a", options=())), {}, "accounts[1].id"),
        ((Account(id="a", options=(call("zz", 5, 5),)),), {}, "accounts[0].options[0].collector"),
        ((Account(id="a", options=(make_option(treatment=Treatment.LEGAL, value=5),)),), {},
         "accounts[0].options[0].uses[0]"),
        ((Account(id="a", options=(), incumbent="zz"),), {}, "accounts[0].incumbent"),
        ((Account(id="a", options=(make_option(treatment=Treatment.FIELD_VISIT, value=5, collector="c1", minutes=30,
                                                region="north"),)),), {}, "accounts[0].options[0].collector"),
        ((Account(id="a", options=(make_option(treatment=Treatment.FIELD_VISIT, value=5, collector="f1", minutes=30,
                                                region="south"),)),), {}, "accounts[0].options[0].uses[1]"),
        ((Account(id="a", options=(Option(treatment=Treatment.AGENT_CALL, value=5, collector="c1",
                                          uses=(("collector:c1", 5), ("collector:f1", 5))),)),), {},
         "accounts[0].options[0].uses[1]"),
        ((), {"balance_band": -0.1}, "balance_band"),
        ((), {"balance_band": float("nan")}, "balance_band"),
        ((), {"balance_band": True}, "balance_band"),
        ((), {"continuity_threshold": -5}, "continuity_threshold"),
        ((), {"continuity_threshold": 5.0}, "continuity_threshold"),
    ],
)
def test_problem_cross_checks_name_the_field(accounts: tuple[Account, ...], kw: dict[str, object], field: str) -> None:
    """The problem checks what needs the whole picture (unknown collectors and resources, a field visit
    by a collector without that region, duplicate ids, bad band or threshold) and names the field path."""
    with pytest.raises(ProblemError) as info:
        day(*accounts, **kw)
    assert info.value.field == field


def test_duplicate_collectors_and_resources_are_refused() -> None:
    """Collector ids and resource names are unique; a collector's minutes cannot be declared twice."""
    with pytest.raises(ProblemError, match=r"collectors\[1\]\.id"):
        Problem(accounts=(), collectors=(Collector("c1", 5), Collector("c1", 6)))
    with pytest.raises(ProblemError, match=r"resources\[1\]\.name"):
        Problem(accounts=(), resources=(Resource("sms", 5), Resource("sms", 6)))


def test_a_valid_problem_exposes_its_capacities() -> None:
    """Collector minutes become `collector:<id>` resources next to the pooled ones."""
    problem = day(Account(id="a", options=(call("c1", 5, 5),), incumbent="c1"), balance_band=0.2)
    assert problem.capacity("collector:c1") == 60
    assert problem.capacity("field:north") == 2
    assert problem.resource_names == ("robot_lines", "field:north", "collector:c1", "collector:f1")
