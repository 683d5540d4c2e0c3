"""Perfect-negotiation roles: which side of each pair of participants gives way on glare.

The rule (also in docs/protocol.md): participant ids look like "p-<n>"; of two participants
**the one with the higher number is polite**. A polite peer that receives an offer while it has
its own offer outstanding rolls its offer back and answers; an impolite peer ignores the
colliding offer and waits for the answer to its own. Ids that are not "p-<n>" (or that spell
the same number differently, such as "p-07") fall back to comparing the whole strings, so the
rule is a strict total order: for every pair of distinct ids exactly one side is polite, and
both sides compute the same answer from the two ids alone, with no server round trip.
"""

from __future__ import annotations

import re
from typing import Literal

PARTICIPANT_ID_RE = re.compile(r"p-(?P<number>[0-9]{1,18})")

NegotiationRole = Literal["polite", "impolite"]


def participant_number(participant_id: str) -> int | None:
    """The n of "p-<n>", or None for any other form."""
    match = PARTICIPANT_ID_RE.fullmatch(participant_id)
    return int(match["number"]) if match else None


def _order_key(participant_id: str) -> tuple[int, int, str]:
    number = participant_number(participant_id)
    if number is None:
        return (1, 0, participant_id)
    return (0, number, participant_id)


def is_polite(*, me: str, peer: str) -> bool:
    """True when `me` is the polite side towards `peer`: the higher "p-<n>" number is polite.

    Raises ValueError for me == peer (nobody negotiates with themselves)."""
    if me == peer:
        raise ValueError("A participant has no negotiation role towards itself.")
    return _order_key(me) > _order_key(peer)


def negotiation_role(*, me: str, peer: str) -> NegotiationRole:
    """`is_polite` as the word a client can put in a log or the participant list."""
    return "polite" if is_polite(me=me, peer=peer) else "impolite"
