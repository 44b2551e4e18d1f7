"""Spreading a pool's workflow targets over its available members: rendezvous hashing.

Each (target, member) pair gets a score from a fixed hash; a target is owned by the
member with the highest score. The result depends on the target and member names
only, never on order or on any process's state, so every node and every member
computes the same owners; and when a member disappears only the targets it owned
move (to their second-highest scorer), the rest stay put.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable


def score(target: str, member: str) -> int:
    """The rendezvous weight of ``member`` for ``target`` (BLAKE2b, 64 bits)."""
    digest = hashlib.blake2b(
        target.encode() + b"\x00" + member.encode(), digest_size=8, person=b"sitelog-pool"
    ).digest()
    return int.from_bytes(digest, "big")


def assign(targets: Iterable[str], members: Collection[str]) -> dict[str, str]:
    """Owner of every target among ``members``; empty when there is no member."""
    if not members:
        return {}
    # Ties (64-bit collisions) fall to the greater name, so the answer stays a function.
    return {t: max(members, key=lambda m: (score(t, m), m)) for t in targets}
