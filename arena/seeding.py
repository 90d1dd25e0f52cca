"""Seeded randomness keyed by what is being drawn, so a draw never depends on the order of work
(a resumed run draws exactly what an uninterrupted one would)."""

from __future__ import annotations

import hashlib
import random


def keyed_rng(*parts: object) -> random.Random:
    """A random generator seeded by the parts (seed, names, ids...), stable across runs."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
