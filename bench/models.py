"""Scoring benchmark: the propensity model on a million accounts for every treatment.

    python bench/models.py [--accounts 1000000] [--train 20000] [--json]

Builds a synthetic feature frame with the production feature names (numeric columns drawn with
realistic shapes and missing values, categoricals with the book's levels), trains the real
propensity model on `--train` rows with a treatment-dependent outcome, then times scoring every
account under all seven treatments (P(pay within 7 and 30 days), expected amount, uplift,
support flags), split into the first stage (scorecard + trees, once per account) and the second
(treatment heads and funnel, the only part that grows with the number of treatments). The floor
is the time to read the frame once (a column-wise sum): `ratio_to_floor` = scoring / floor.
Target: ≤ 30 s for 1,000,000 accounts × 7 treatments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from buyu.scoring.features import CATEGORICAL, NUMERIC, TREATMENTS, FeatureFrame, bucket_code
from buyu.scoring.learner import sigmoid
from buyu.scoring.propensity import TrainingSet, fit_propensity

LEVELS: dict[str, tuple[str, ...]] = {
    "bucket": ("M1", "M2", "M3", "M4+"), "segment": ("consumer", "micro_merchant"),
    "region": ("east", "north", "northeast", "south", "west"), "language": ("ko-KR", "zh-CN"),
    "income_band": ("high", "low", "mid"),
    "last_result": ("none", "unanswered", "wrong_party", "sms", "rpc", "refused", "ptp"),
}


def synthetic_frame(n: int, rng: np.random.Generator) -> FeatureFrame:
    """Feature rows with plausible marginals; a quarter of the rate-type columns missing."""
    numeric = rng.gamma(2.0, 1.0, (n, len(NUMERIC)))
    numeric[:, NUMERIC.index("dpd")] = rng.integers(1, 200, n)
    for name in ("answered_rate", "rpc_rate", "keep_rate", "days_since_rpc", "days_since_payment",
                 "last_payment_share", "days_to_ptp_due", "age"):
        col = NUMERIC.index(name)
        numeric[rng.random(n) < 0.25, col] = np.nan
    cats = np.column_stack([rng.integers(0, len(LEVELS[c]), n) for c in CATEGORICAL])
    cats[:, 0] = bucket_code(numeric[:, NUMERIC.index("dpd")])
    return FeatureFrame(numeric=numeric, numeric_names=NUMERIC, categorical=cats.astype(np.int64),
                        categorical_names=CATEGORICAL, levels=tuple(LEVELS[c] for c in CATEGORICAL))


def training_set(frame: FeatureFrame, rng: np.random.Generator) -> TrainingSet:
    """Randomised treatments; outcomes depend on features, treatment and a contact funnel."""
    n = frame.size
    t = rng.integers(0, len(TREATMENTS), n)
    score = (1.0 - 0.02 * frame.num("dpd") + 0.3 * np.nan_to_num(frame.num("rpc_rate"))
             + 0.2 * frame.num("payments_30d"))
    result = np.where(np.isin(t, (0, 2, 3)), rng.integers(1, 4, n), 0)
    y30 = rng.random(n) < sigmoid(score + 0.3 * (result == 3))
    y7 = y30 & (rng.random(n) < 0.5)
    amount = np.where(y30, rng.integers(10_000, 2_000_000, n), 0)
    return TrainingSet(frame=frame, treatment=t.astype(np.int64), result=result.astype(np.int64), paid_7d=y7,
                       paid_30d=y30, amount_30d=amount.astype(np.int64), groups=np.arange(n), day=np.zeros(n,
                                                                                                         np.int64))


def run(*, accounts: int, train: int) -> dict[str, Any]:
    """Train on `train` rows, score `accounts` rows × all treatments; seconds per stage."""
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    model = fit_propensity(training_set(synthetic_frame(train, rng), rng))
    fit_s = time.perf_counter() - t0
    frame = synthetic_frame(accounts, rng)
    t0 = time.perf_counter()
    floor = float(np.nansum(frame.numeric, axis=0).sum())
    floor_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    inputs = model.inputs(frame)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = model.score_inputs(inputs, bucket=frame.categorical[:, 0])
    second_s = time.perf_counter() - t0
    total = first_s + second_s
    return {"accounts": accounts, "treatments": len(TREATMENTS), "train_rows": train, "fit_seconds": round(fit_s, 2),
            "score_seconds": round(total, 2), "first_stage_seconds": round(first_s, 2),
            "second_stage_seconds": round(second_s, 2), "accounts_per_second": round(accounts / total),
            "floor_seconds": round(floor_s, 3), "ratio_to_floor": round(total / max(floor_s, 1e-9), 1),
            "target_seconds": 30, "met": total <= 30, "tree": model.base.tree.kind,
            "mean_p30_no_action": round(float(scores.p30[:, -1].mean()), 4), "checksum": round(floor, 1) != 0}


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = run(accounts=args.accounts, train=args.train)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
