"""The model registry on both databases: versions, retirement, hashes, cards, alarms."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from buyu.errors import Conflict, NotFound
from buyu.scoring import monitoring, registry
from buyu.scoring.models import ModelAlarm, ModelVersion


def _registration(name: str = "rollrate", as_of: date = date(2026, 6, 30)) -> registry.Registration:
    return registry.Registration(name=name, as_of=as_of, window_start=date(2026, 1, 1), window_end=as_of, rows=10,
                                 data_hash=registry.data_hash([1, 2, 3]), features=["segment"],
                                 params={"period_days": 30}, metrics={"auc": 0.8}, reference={})


def test_register_versions_retire_and_load_verified(session: Session) -> None:
    """A second registration becomes v2 and active, v1 is retired; loading returns the artifact intact."""
    first = registry.register(session=session, registration=_registration(), artifact={"k": [1, 2]})
    second = registry.register(session=session, registration=_registration(), artifact={"k": [3]})
    assert (second.version, second.status) == (first.version + 1, "active")
    session.refresh(first)
    assert first.status == "retired"
    row, artifact = registry.load(session=session, name="rollrate")
    assert row.id == second.id and artifact == {"k": [3]}
    _, old = registry.load(session=session, name="rollrate", version=first.version)
    assert old == {"k": [1, 2]}


def test_a_tampered_artifact_is_refused(session: Session) -> None:
    """Bytes changed after registration fail the SHA-256 check instead of being unpickled."""
    row = registry.register(session=session, registration=_registration(), artifact=[1, 2, 3])
    session.execute(update(ModelVersion).where(ModelVersion.id == row.id).values(artifact=b"not the model"))
    session.expire_all()
    with pytest.raises(Conflict):
        registry.load(session=session, name="rollrate")
    with pytest.raises(NotFound):
        registry.load(session=session, name="valuation_that_never_was")


def test_card_states_window_hash_metrics_and_retrain_date(session: Session) -> None:
    """The generated model card shows what was registered, so it cannot drift from it."""
    row = registry.register(session=session, registration=_registration(), artifact=0)
    assert "2026-01-01 … 2026-06-30" in row.card and row.data_hash in row.card
    assert "| auc | 0.8000 |" in row.card and "2026-09-28" in row.card
    assert registry.data_hash([1, 2, 3]) == registry.data_hash([1, 2, 3]) != registry.data_hash([1, 2, 4])


def test_stability_alarms_are_recorded(session: Session) -> None:
    """PSI above the warning and critical levels writes alarm rows with the right severity."""
    row = registry.register(session=session, registration=_registration(), artifact=0)
    alarms = monitoring.stability_alarms(psis={"inputs": {"dpd": 0.3, "region": 0.05}, "scores": {"p30": 0.12}})
    monitoring.raise_alarms(session=session, version=row, as_of=date(2026, 7, 1), alarms=alarms)
    got = {(a.monitor, a.subject, a.severity) for a in session.scalars(
        select(ModelAlarm).where(ModelAlarm.model_version_id == row.id))}
    assert got == {("input_psi", "dpd", "critical"), ("score_psi", "p30", "warning")}


def test_a_tripped_monitor_flags_a_young_model_for_retraining(session: Session) -> None:
    """A model two days old is flagged for retraining when its latest run's PSI is critical, and not otherwise."""
    from buyu.scoring.models import ScoreRun

    row = registry.register(session=session, registration=_registration(), artifact=0)
    quiet = {"inputs": {"dpd": 0.02}, "scores": {"p30": 0.01}}
    session.add(ScoreRun(model_version_id=row.id, as_of=date(2026, 7, 1), kind="batch", accounts=10, logged=0,
                         sample_ppm=0, summary={}, monitors=quiet))
    session.flush()
    calm = monitoring.model_report(session=session, version=row, as_of=date(2026, 7, 1))
    assert calm["age_days"] == 1 and not calm["retrain"]
    session.add(ScoreRun(model_version_id=row.id, as_of=date(2026, 7, 2), kind="batch", accounts=10, logged=0,
                         sample_ppm=0, summary={}, monitors={"inputs": {"dpd": 0.4}, "scores": {"p30": 0.01}}))
    session.flush()
    tripped = monitoring.model_report(session=session, version=row, as_of=date(2026, 7, 2))
    assert tripped["retrain"] and any("input_psi dpd" in r for r in tripped["retrain_reasons"])


def test_effectiveness_alarms_follow_their_thresholds(session: Session) -> None:
    """Matured AUC more than 0.05 below training and ECE at or above 0.05 each raise a critical alarm;
    figures within the thresholds, or not yet measured, raise none."""
    row = registry.register(session=session, registration=_registration(), artifact=0)
    both = monitoring.effectiveness_alarms(version=row, measured={"auc": 0.74, "ece": 0.06})
    assert {(a["monitor"], a["severity"]) for a in both} == {("auc", "critical"), ("calibration", "critical")}
    assert monitoring.effectiveness_alarms(version=row, measured={"auc": 0.79, "ece": 0.01}) == []
    assert monitoring.effectiveness_alarms(version=row, measured={"auc": None, "ece": None}) == []
