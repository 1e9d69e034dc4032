"""Scoring and valuation models with model governance (see docs/scoring.md).

Pure cores on arrays (features, learner, propensity, collector_fit, valuation, rollrate, metrics);
the database edges are `data` (reading the product's tables) and `registry`/`monitoring`/`service`
(registered artifacts, logged scoring runs, alarms, reports).
"""
