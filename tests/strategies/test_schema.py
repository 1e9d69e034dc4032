"""Strategy documents: the shipped files are valid and round-trip; every bad file names its field."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from buyu.errors import InvalidInput
from strategies.schema import (
    TREATMENTS,
    StrategyError,
    canonical_json,
    document_schema,
    load_strategy_text,
    parse_strategy,
    strategy_to_document,
)
from tests.strategies.helpers import DEFAULT_FILE, US_FILE, as_text, default_doc


@pytest.mark.parametrize("path", [DEFAULT_FILE, US_FILE], ids=["default", "us_example"])
def test_shipped_files_are_valid_and_round_trip(path: Any) -> None:
    """The default and the US example parse; document → Strategy → document → Strategy is the identity."""
    strategy = load_strategy_text(path.read_text(encoding="utf-8"))
    document = strategy_to_document(strategy)
    again = parse_strategy(document)
    assert again == strategy
    assert strategy_to_document(again) == document
    assert json.loads(json.dumps(document)) == document  # plain JSON types only
    assert load_strategy_text(json.dumps(document)) == strategy  # JSON text is accepted too


def test_default_has_what_the_demo_needs() -> None:
    """The default covers every bucket, is CN, keeps no_action free and runs one 10% challenger."""
    s = load_strategy_text(DEFAULT_FILE.read_text(encoding="utf-8"))
    buckets = {b for seg in s.segments for b in (seg.when.buckets or ())}
    assert buckets == {"M1", "M2", "M3", "M4+"}
    assert s.contact_profile == "CN" and s.costs.per_treatment_fen["no_action"] == 0
    assert set(s.costs.per_treatment_fen) == set(TREATMENTS)
    assert [(c.name, c.share) for c in s.challengers] == [("robot_first", Decimal("0.10"))]
    assert all(set(seg.require) <= set(seg.allow) for seg in s.segments)


def test_canonical_json_ignores_layout_and_number_spelling() -> None:
    """The same strategy written with other key order and 0.1 vs "0.1" has the same canonical JSON."""
    doc = default_doc("p")
    other = dict(reversed(list(doc.items())))
    other["ptp"] = dict(doc["ptp"], min_amount_share=0.2, discounts=[0, 0.05, 0.1])
    assert canonical_json(parse_strategy(doc)) == canonical_json(parse_strategy(other))


def test_explore_share_is_optional_and_kept_out_of_the_canonical_form_at_zero() -> None:
    """Documents written before the setting existed keep their canonical JSON (and sha256); a share is kept."""
    doc = default_doc("p")
    doc["optimizer"].pop("explore_share", None)
    plain = parse_strategy(doc)
    assert plain.optimizer.explore_share == 0 and "explore_share" not in canonical_json(plain)
    doc["optimizer"]["explore_share"] = "0.05"
    shared = parse_strategy(doc)
    assert shared.optimizer.explore_share == Decimal("0.05")
    assert '"explore_share":"0.05"' in canonical_json(shared).replace(" ", "")
    assert parse_strategy(strategy_to_document(shared)) == shared


def test_sale_terms_are_optional_and_kept_out_of_the_canonical_form_when_absent() -> None:
    """Without a `sale` section nothing is sold and the canonical JSON is as before; with one, the prices
    are kept by bucket in bucket order and round-trip."""
    doc = default_doc("p")
    doc.pop("sale", None)
    plain = parse_strategy(doc)
    assert plain.sale is None and '"sale":{' not in canonical_json(plain)
    doc["sale"] = {"price_share": {"M4+": 0.035, "M3": "0.070"}, "annual_rate": "0.1"}
    terms = parse_strategy(doc).sale
    assert terms is not None and list(terms.price_share) == ["M3", "M4+"]
    assert terms.price_share["M3"] == Decimal("0.07") and terms.annual_rate == Decimal("0.1")
    assert parse_strategy(strategy_to_document(parse_strategy(doc))) == parse_strategy(doc)
    # a sale waits for a year of outcomes behind the valuation unless the strategy says otherwise; the default
    # stays out of the canonical form (documents written before the field keep their sha256)
    assert terms.min_valuation_days == 365 and "min_valuation_days" not in canonical_json(parse_strategy(doc))
    doc["sale"]["min_valuation_days"] = 180
    short = parse_strategy(doc)
    assert short.sale is not None and short.sale.min_valuation_days == 180
    assert '"min_valuation_days":180' in canonical_json(short)
    assert parse_strategy(strategy_to_document(short)) == short


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        node = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return apply


def _drop(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        node = doc
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
    return apply


BAD = [
    ("unknown_treatment", _set(["segments", 2, "allow", 1], "fax"), "segments[2].allow[1]", "unknown treatment 'fax'"),
    ("require_not_allowed", _set(["segments", 0, "require"], ["legal"]), "segments[0].require[0]", "not in allow"),
    ("missing_field", _drop(["ptp", "max_days"]), "ptp.max_days", "is required"),
    ("unknown_field", _set(["capacities", "colour"], 1), "capacities.colour", "unknown field"),
    ("negative_capacity", _set(["capacities", "sms_per_day"], -1), "capacities.sms_per_day", "≥ 0"),
    ("float_fen", _set(["segments", 0, "when", "balance_max_fen"], 5000.5), "segments[0].when.balance_max_fen",
     "must be integer"),
    ("bucket_m0", _set(["segments", 1, "when", "buckets"], ["M0"]), "segments[1].when.buckets[0]",
     "unknown bucket 'M0'"),
    ("empty_band", _set(["segments", 0, "when", "balance_min_fen"], 500000), "segments[0].when.balance_max_fen",
     "greater than balance_min_fen"),
    ("score_out_of_range", _set(["segments", 0, "when", "score_min"], 1.5), "segments[0].when.score_min", "≤ 1"),
    ("bad_share", _set(["challengers", 0, "share"], "ten percent"), "challengers[0].share", "not a decimal"),
    ("shares_sum", _set(["challengers", 0, "share"], "1"), "challengers", "champion must keep a share"),
    ("challenger_named_champion", _set(["challengers", 0, "name"], "champion"), "challengers[0].name", "taken"),
    ("challenger_segment", _set(["challengers", 0, "segments", 1, "allow", 0], "email"),
     "challengers[0].segments[1].allow[0]", "unknown treatment 'email'"),
    ("horizon", _set(["optimizer", "horizon_days"], 14), "optimizer.horizon_days", "unknown horizon 14"),
    ("explore_share", _set(["optimizer", "explore_share"], "0.6"), "optimizer.explore_share", "between 0 and 0.5"),
    ("profile", _set(["contact_profile"], "EU"), "contact_profile", "unknown contact profile 'EU'"),
    ("no_action_cost", _set(["costs", "per_treatment_fen", "no_action"], 5), "costs.per_treatment_fen.no_action",
     "must be 0"),
    ("missing_cost", _drop(["costs", "per_treatment_fen", "legal"]), "costs.per_treatment_fen.legal", "is required"),
    ("discount", _set(["ptp", "discounts", 2], "1.2"), "ptp.discounts[2]", "between 0 and 1"),
    ("duplicate_segment", _set(["segments", 1, "name"], "m1_small"), "segments[1].name", "duplicate segment name"),
    ("empty_allow", _set(["segments", 3, "allow"], []), "segments[3].allow", "at least 1"),
    ("name_type", _set(["segments", 0, "name"], True), "segments[0].name", "must be string, got boolean"),
    ("no_segments", _set(["segments"], []), "segments", "at least 1"),
    ("sale_price", _set(["sale", "price_share", "M4+"], "1.5"), "sale.price_share.M4+", "between 0 and 1"),
    ("sale_bucket", _set(["sale", "price_share", "M9"], "0.1"), "sale.price_share.M9", "unknown field"),
    ("sale_rate", _drop(["sale", "annual_rate"]), "sale.annual_rate", "is required"),
    ("sale_min_days", _set(["sale", "min_valuation_days"], -1), "sale.min_valuation_days", "must be ≥ 0"),
]


@pytest.mark.parametrize(("mutate", "path", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_documents_name_the_field(mutate: Callable[[dict[str, Any]], None], path: str, fragment: str) -> None:
    """Each broken document raises StrategyError (an InvalidInput, code invalid_strategy) whose message starts
    with the field path and whose details carry that path."""
    doc = default_doc("p")
    mutate(doc)
    with pytest.raises(StrategyError) as caught:
        load_strategy_text(as_text(doc))
    err = caught.value
    assert isinstance(err, InvalidInput) and err.code == "invalid_strategy" and err.http_status == 422
    assert err.message.startswith(f"{path}: "), err.message
    assert fragment in err.message, err.message
    assert err.details["path"] == path
    assert err.details["errors"][0] == {"path": path, "message": err.message.split(": ", 1)[1].split(" (and ")[0]}


def test_every_problem_is_reported_first_one_in_file_order() -> None:
    """Two bad fields: the message leads with the one earlier in the file and details list both."""
    doc = default_doc("p")
    doc["segments"][2]["allow"][1] = "fax"
    doc["challengers"][0]["segments"][0]["allow"][0] = "pager"
    with pytest.raises(StrategyError) as caught:
        load_strategy_text(as_text(doc))
    assert caught.value.message.startswith("segments[2].allow[1]: ") and caught.value.message.endswith("(and 1 more)")
    assert [e["path"] for e in caught.value.details["errors"]] == ["segments[2].allow[1]",
                                                                   "challengers[0].segments[0].allow[0]"]


@pytest.mark.parametrize(("text", "fragment"), [
    ("portfolio: [unclosed", "not valid YAML or JSON at line 1"),
    ("- just\n- a list\n", "must be a mapping"),
    ("", "must be a mapping"),
])
def test_unreadable_text_is_a_strategy_error(text: str, fragment: str) -> None:
    """Text that is not a YAML/JSON mapping is refused with invalid_strategy, pointing at the document."""
    with pytest.raises(StrategyError) as caught:
        load_strategy_text(text)
    assert caught.value.message.startswith("(document): ") and fragment in caught.value.message


def test_schema_is_draft_2020_12() -> None:
    """The published shape is a valid draft 2020-12 JSON Schema and accepts the canonical default document."""
    schema = document_schema()
    Draft202012Validator.check_schema(schema)
    canonical = strategy_to_document(parse_strategy(default_doc("p")))
    assert list(Draft202012Validator(schema).iter_errors(canonical)) == []
