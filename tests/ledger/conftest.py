"""Ledger test settings.

Widen a property search with BUYU_PROPERTY_SCALE=10 (examples × 10); while hunting a failure,
`--hypothesis-profile=ledger-noshrink` reports it without the (slow, database-bound) shrinking.
"""

from hypothesis import Phase, settings

settings.register_profile("ledger-noshrink", phases=[Phase.explicit, Phase.reuse, Phase.generate])
