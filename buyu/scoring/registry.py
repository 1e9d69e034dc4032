"""The model registry: every trained model a versioned artifact with its data window, hash, card.

`register` retires the previous active version of the same name and stores the new one; `load`
returns the artifact only after checking its SHA-256 against the registered hash (artifacts are
pickles written by this module: the hash check refuses anything altered after registration).
The markdown model card is generated from what was registered, so it cannot drift from it.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from buyu.errors import Conflict, NotFound
from buyu.scoring.models import ModelVersion

#: What each model is for, for the card.
PURPOSE: dict[str, str] = {
    "propensity": "P(payment within 7 and 30 days) and expected amount per account under each treatment, and the "
                  "uplift of each treatment over no action, for the daily optimizer.",
    "collector_fit": "Each collector's shrunk effect on promises by segment, and P(collect | debtor, collector) "
                     "per pair for the optimizer's assignment.",
    "valuation": "Expected 12-month recovery curve and present value per account under the current strategy; "
                 "pool value, 90% interval and hold-vs-sell against a bid.",
    "rollrate": "Next-month bucket transition matrix by segment, for the console.",
}


def data_hash(*arrays: npt.ArrayLike) -> str:
    """SHA-256 over the training arrays' dtypes, shapes and bytes (the same data gives the same hash)."""
    digest = hashlib.sha256()
    for arr in arrays:
        a = np.ascontiguousarray(np.asarray(arr))
        if a.dtype == object:
            a = np.asarray([str(x) for x in a.ravel()], dtype=np.str_)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Registration:
    """What a training run hands to the registry."""

    name: str
    as_of: date
    window_start: date
    window_end: date
    rows: int
    data_hash: str
    features: list[str]
    params: dict[str, Any]
    metrics: dict[str, Any]
    reference: dict[str, Any]


def register(*, session: Session, registration: Registration, artifact: object) -> ModelVersion:
    """Store a new active version (the previous active one of that name is retired)."""
    r = registration
    blob = pickle.dumps(artifact, protocol=pickle.HIGHEST_PROTOCOL)
    version = int(session.scalar(select(func.coalesce(func.max(ModelVersion.version), 0))
                                 .where(ModelVersion.name == r.name)) or 0) + 1
    session.execute(update(ModelVersion).where(ModelVersion.name == r.name, ModelVersion.status == "active")
                    .values(status="retired"))
    row = ModelVersion(name=r.name, version=version, status="active", as_of=r.as_of, window_start=r.window_start,
                       window_end=r.window_end, rows=r.rows, data_hash=r.data_hash, features=r.features,
                       params=r.params, metrics=r.metrics, reference=r.reference, card="", artifact=blob,
                       artifact_hash=hashlib.sha256(blob).hexdigest())
    row.card = model_card(row)
    session.add(row)
    session.flush()
    return row


def active(*, session: Session, name: str) -> ModelVersion | None:
    """The active version of a model, if any."""
    return session.scalar(select(ModelVersion).where(ModelVersion.name == name, ModelVersion.status == "active")
                          .order_by(ModelVersion.version.desc()).limit(1))


def versions(*, session: Session, name: str | None = None) -> list[ModelVersion]:
    """Registered versions, newest first."""
    stmt = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.version.desc())
    if name is not None:
        stmt = stmt.where(ModelVersion.name == name)
    return list(session.scalars(stmt))


def load(*, session: Session, name: str, version: int | None = None) -> tuple[ModelVersion, Any]:
    """A version (the active one by default) and its artifact, after verifying the artifact's hash."""
    if version is None:
        row = active(session=session, name=name)
    else:
        row = session.scalar(select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version))
    if row is None:
        raise NotFound(f"no registered {name} model" + (f" version {version}" if version else "")
                       + "; run `buyu models train`", code="model_not_found", details={"name": name})
    if hashlib.sha256(row.artifact).hexdigest() != row.artifact_hash:
        raise Conflict(f"{name} v{row.version}: the artifact does not match its registered hash",
                       code="artifact_tampered", details={"name": name, "version": row.version})
    return row, pickle.loads(row.artifact)


def model_card(row: ModelVersion) -> str:
    """The markdown model card of a registered version."""
    metrics = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in sorted(row.metrics.items())) or "| (none) | |"
    params = "\n".join(f"- `{k}`: {_fmt(v)}" for k, v in sorted(row.params.items())) or "- (none)"
    features = ", ".join(f"`{f}`" for f in row.features) or "(none)"
    return f"""# Model card: {row.name} v{row.version}

**Purpose.** {PURPOSE.get(row.name, row.name)}

| | |
|---|---|
| status | {row.status} |
| trained as of | {row.as_of.isoformat()} |
| training data window | {row.window_start.isoformat()} … {row.window_end.isoformat()} |
| training rows | {row.rows} |
| training data SHA-256 | `{row.data_hash}` |
| retrain by | {date.fromordinal(row.as_of.toordinal() + 90).isoformat()} (90 days) |

## Features
{features}

## Parameters
{params}

## Metrics (training window, out of fold or held out where stated)
| metric | value |
|---|---|
{metrics}

## Monitoring
Inputs and scores are compared with the training window (PSI ≥ 0.10 warns, ≥ 0.25 is critical); AUC and
calibration are re-measured on matured outcomes of logged scoring runs (AUC drop ≥ 0.05 or ECE ≥ 0.05
trips an alarm). A version older than 90 days, or with a tripped monitor, is flagged for retraining.

## Limits
Trained on the lender's own history as recorded in Buyu's tables; effects of treatments are learned
where the history tried them (cells with too little support are scored as no action and flagged).
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
