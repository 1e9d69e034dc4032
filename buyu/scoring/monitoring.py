"""Monitoring: stability (PSI of inputs and scores vs the training window), effectiveness (AUC and
calibration on matured outcomes), age, alarms, and the per-model report.

Thresholds follow common credit-model practice: PSI < 0.10 stable, 0.10–0.25 a warning, ≥ 0.25
critical; an AUC more than 0.05 below the training AUC, or an ECE ≥ 0.05, trips an alarm; a model
trained more than 90 days before the as-of date is due for retraining (the bank's rule: iterate
every model at least every three months).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from buyu.scoring.features import FeatureFrame
from buyu.scoring.metrics import Reference, auc, ece, psi, reference_categorical, reference_numeric
from buyu.scoring.models import ModelAlarm, ModelVersion, ScoreLog, ScoreRun


@dataclass(frozen=True)
class Thresholds:
    """When a monitor trips."""

    psi_warning: float = 0.10
    psi_critical: float = 0.25
    auc_drop: float = 0.05
    ece: float = 0.05
    max_age_days: int = 90
    min_matured: int = 200


DEFAULT = Thresholds()


def references(*, frame: FeatureFrame, scores: dict[str, npt.ArrayLike]) -> dict[str, Any]:
    """Training-window distributions of every input and score, for later PSI."""
    inputs = [reference_numeric(name=n, values=frame.numeric[:, j]).to_dict()
              for j, n in enumerate(frame.numeric_names)]
    inputs += [reference_categorical(name=n, codes=frame.categorical[:, j], levels=len(frame.levels[j])).to_dict()
               | {"levels": list(frame.levels[j])} for j, n in enumerate(frame.categorical_names)]
    outs = [reference_numeric(name=k, values=v).to_dict() for k, v in scores.items()]
    return {"inputs": inputs, "scores": outs}


def stability(*, reference: dict[str, Any], frame: FeatureFrame, scores: dict[str, npt.ArrayLike]) -> dict[str, Any]:
    """PSI of each input and score of a scored population against the training reference."""
    out: dict[str, Any] = {"inputs": {}, "scores": {}}
    for ref in reference.get("inputs", []):
        name = ref["name"]
        r = Reference.from_dict(ref)
        if r.categorical and name in frame.categorical_names:
            labels = frame.cat_labels(name)
            levels = list(ref.get("levels", []))
            index = {v: i for i, v in enumerate(levels)}
            codes = np.asarray([index.get(str(v), len(levels) - 1) for v in labels], dtype=np.int64)
            out["inputs"][name] = round(psi(reference=r, values=codes), 4)
        elif not r.categorical and name in frame.numeric_names:
            out["inputs"][name] = round(psi(reference=r, values=frame.num(name)), 4)
    for ref in reference.get("scores", []):
        if ref["name"] in scores:
            out["scores"][ref["name"]] = round(psi(reference=Reference.from_dict(ref), values=scores[ref["name"]]), 4)
    return out


def stability_alarms(*, psis: dict[str, Any], thresholds: Thresholds = DEFAULT) -> list[dict[str, Any]]:
    """Alarm records for every PSI at or above the warning level."""
    alarms = []
    for monitor, group in (("input_psi", "inputs"), ("score_psi", "scores")):
        for subject, value in psis.get(group, {}).items():
            if value >= thresholds.psi_warning:
                severity = "critical" if value >= thresholds.psi_critical else "warning"
                threshold = thresholds.psi_critical if severity == "critical" else thresholds.psi_warning
                alarms.append({"monitor": monitor, "subject": subject, "value": float(value),
                               "threshold": threshold, "severity": severity})
    return alarms


def raise_alarms(*, session: Session, version: ModelVersion, as_of: date, alarms: list[dict[str, Any]],
                 run_id: int | None = None) -> list[ModelAlarm]:
    """Write alarm records."""
    rows = [ModelAlarm(model_version_id=version.id, run_id=run_id, as_of=as_of, monitor=a["monitor"],
                       subject=a["subject"][:80], value=float(a["value"]), threshold=float(a["threshold"]),
                       severity=a["severity"], details=a.get("details")) for a in alarms]
    session.add_all(rows)
    session.flush()
    return rows


def effectiveness(*, session: Session, version: ModelVersion, as_of: date,
                  thresholds: Thresholds = DEFAULT) -> dict[str, Any]:
    """AUC and ECE of logged propensity scores whose 30-day outcome has matured by `as_of`.

    Only scores of days after the training window count: a back-dated run re-scores rows the model
    learned from (a refitted forest all but memorises them), which says nothing about how it ranks now.
    """
    from buyu.scoring.data import load_history
    from buyu.scoring.features import T_INDEX, observed_treatment, outcomes

    cutoff = as_of - timedelta(days=29)
    rows = session.execute(
        select(ScoreRun.as_of, ScoreLog.loan_id, ScoreLog.outputs).join(ScoreLog, ScoreLog.run_id == ScoreRun.id)
        .where(ScoreRun.model_version_id == version.id, ScoreRun.as_of > version.as_of,
               ScoreRun.as_of <= cutoff)).all()
    if len(rows) < thresholds.min_matured:
        return {"matured": len(rows), "auc": None, "ece": None}
    loans = np.asarray([r[1] for r in rows], dtype=np.int64)
    days = np.asarray([r[0].toordinal() for r in rows], dtype=np.int64)
    first = min(r[0] for r in rows)
    history = load_history(session=session, first=first, last=as_of, loan_ids=sorted(set(loans.tolist())))
    done, _, _, _ = observed_treatment(history=history, loan=loans, day=days)
    names = list(T_INDEX)
    p30 = np.asarray([r[2]["p30"][names[max(int(t), 0)]] if isinstance(r[2].get("p30"), dict) else np.nan
                      for r, t in zip(rows, done, strict=True)], dtype=np.float64)
    from buyu.scoring.features import Points

    pts = Points(loan=loans, day=days, treatment=done, collector=np.zeros_like(loans), hour=np.zeros_like(loans),
                 result=np.zeros_like(loans))
    y = outcomes(history=history, points=pts, last_day=as_of.toordinal()).paid_30d
    ok = np.isfinite(p30)
    value_auc, value_ece = auc(y=y[ok], score=p30[ok]), ece(y=y[ok], p=p30[ok])
    return {"matured": int(ok.sum()), "auc": round(value_auc, 4), "ece": round(value_ece, 4),
            "observed_rate": round(float(y[ok].mean()), 4), "predicted_rate": round(float(p30[ok].mean()), 4)}


def effectiveness_alarms(*, version: ModelVersion, measured: dict[str, Any],
                         thresholds: Thresholds = DEFAULT) -> list[dict[str, Any]]:
    """Alarms when matured AUC fell or calibration broke."""
    alarms: list[dict[str, Any]] = []
    trained = version.metrics.get("auc")
    if measured.get("auc") is not None and isinstance(trained, int | float) \
            and measured["auc"] <= trained - thresholds.auc_drop:
        alarms.append({"monitor": "auc", "subject": "p30", "value": measured["auc"],
                       "threshold": round(trained - thresholds.auc_drop, 4), "severity": "critical"})
    if measured.get("ece") is not None and measured["ece"] >= thresholds.ece:
        alarms.append({"monitor": "calibration", "subject": "p30", "value": measured["ece"],
                       "threshold": thresholds.ece, "severity": "critical"})
    return alarms


def age_days(*, version: ModelVersion, as_of: date) -> int:
    """Days since the version was trained (its as-of date)."""
    return (as_of - version.as_of).days


def model_report(*, session: Session, version: ModelVersion, as_of: date,
                 thresholds: Thresholds = DEFAULT) -> dict[str, Any]:
    """Stability and effectiveness of one version, its alarms, and whether it must be retrained."""
    runs = list(session.scalars(select(ScoreRun).where(ScoreRun.model_version_id == version.id,
                                                       ScoreRun.as_of <= as_of).order_by(ScoreRun.as_of, ScoreRun.id)))
    latest = runs[-1] if runs else None
    measured = effectiveness(session=session, version=version, as_of=as_of, thresholds=thresholds) \
        if version.name == "propensity" else {}
    open_alarms = session.execute(
        select(ModelAlarm.monitor, ModelAlarm.severity, func.count())
        .where(ModelAlarm.model_version_id == version.id, ModelAlarm.as_of <= as_of)
        .group_by(ModelAlarm.monitor, ModelAlarm.severity)).all()
    age = age_days(version=version, as_of=as_of)
    reasons = []
    if age > thresholds.max_age_days:
        reasons.append(f"older than {thresholds.max_age_days} days ({age})")
    tripped = stability_alarms(psis=latest.monitors, thresholds=thresholds) if latest else []
    tripped += effectiveness_alarms(version=version, measured=measured, thresholds=thresholds)
    reasons += [f"{a['monitor']} {a['subject']} = {a['value']} (threshold {a['threshold']})"
                for a in tripped if a["severity"] == "critical"]
    return {
        "name": version.name, "version": version.version, "trained_as_of": version.as_of.isoformat(),
        "age_days": age, "training_window": [version.window_start.isoformat(), version.window_end.isoformat()],
        "training_metrics": version.metrics,
        "use": {"runs": len(runs), "accounts_scored": sum(r.accounts for r in runs),
                "last_run": latest.as_of.isoformat() if latest else None},
        "stability": latest.monitors if latest else None,
        "effectiveness": measured or None,
        "alarms": [{"monitor": m, "severity": s, "count": int(n)} for m, s, n in open_alarms],
        "retrain": bool(reasons), "retrain_reasons": reasons,
    }


def write_report(*, report: dict[str, Any], path: Path) -> Path:
    """Write the report as JSON and as markdown next to it (the console shows either)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    md = path.with_suffix(".md")
    lines = [f"# Model report as of {report['as_of']}", ""]
    for m in report["models"]:
        flag = "**RETRAIN**" if m["retrain"] else "ok"
        lines += [f"## {m['name']} v{m['version']} — {flag}", "",
                  f"- trained as of {m['trained_as_of']} ({m['age_days']} days ago), window "
                  f"{m['training_window'][0]} … {m['training_window'][1]}",
                  f"- use: {m['use']['runs']} runs, {m['use']['accounts_scored']} accounts scored",
                  f"- stability: {json.dumps((m['stability'] or {}).get('scores', {}))}",
                  f"- effectiveness: {json.dumps(m['effectiveness'])}",
                  f"- alarms: {json.dumps(m['alarms'])}"]
        lines += [f"- retrain because: {r}" for r in m["retrain_reasons"]] + [""]
    md.write_text("\n".join(lines), encoding="utf-8")
    return path
