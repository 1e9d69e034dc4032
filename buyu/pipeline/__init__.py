"""The nightly run, step by step, idempotent per as-of date."""
