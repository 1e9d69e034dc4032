"""Named random streams: one per mechanism (and per day where it helps), all from the scenario seed.

Each stream is a fresh `numpy.random.Generator` keyed by (seed, names…), not a position in one
shared sequence, so drawing more or fewer contact outcomes (another policy) never shifts the
borrowers, the ability process or any other mechanism, and any single day can be replayed alone.
"""

from __future__ import annotations

import zlib
from datetime import date

import numpy as np


def _key(part: str | int | date) -> int:
    if isinstance(part, date):
        return part.toordinal()
    if isinstance(part, int):
        return part
    # crc32 is stable across processes and Python versions (unlike hash()).
    return zlib.crc32(part.encode("utf-8"))


def stream(seed: int, *path: str | int | date) -> np.random.Generator:
    """The generator for mechanism `path` (e.g. "borrowers", "ability", day) under `seed`."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=tuple(_key(p) for p in path))))
