import itertools
import random

import pytest

from signaling.roles import is_polite, negotiation_role, participant_number


def test_of_two_participants_the_higher_number_is_polite():
    assert is_polite(me="p-7", peer="p-3") is True
    assert is_polite(me="p-3", peer="p-7") is False
    assert negotiation_role(me="p-10", peer="p-9") == "polite"


def test_numbers_compare_as_numbers_not_as_text():
    assert is_polite(me="p-10", peer="p-9") is True
    assert is_polite(me="p-100", peer="p-99") is True


def test_exactly_one_of_every_pair_is_polite():
    rng = random.Random(20260301)
    ids = [f"p-{n}" for n in range(1, 60)]
    ids += [f"p-{rng.randrange(10**12)}" for _ in range(60)]
    # Odd forms a client or a future id scheme might produce: still a strict order.
    ids += ["p-07", "p-7x", "bot-1", "", "P-3", "p-", "p-0", "zz", "p-18446744073709551616"]
    ids = list(dict.fromkeys(ids))
    for me, peer in itertools.combinations(ids, 2):
        assert is_polite(me=me, peer=peer) != is_polite(me=peer, peer=me), (me, peer)


def test_politeness_is_transitive_so_a_room_has_one_consistent_order():
    ids = ["p-2", "p-11", "p-07", "p-7", "guest", "p-300"]
    for a, b, c in itertools.permutations(ids, 3):
        if is_polite(me=a, peer=b) and is_polite(me=b, peer=c):
            assert is_polite(me=a, peer=c)


def test_nobody_has_a_role_towards_themself():
    with pytest.raises(ValueError, match="itself"):
        is_polite(me="p-1", peer="p-1")


def test_participant_numbers_are_read_only_from_the_p_dash_form():
    assert participant_number("p-42") == 42
    assert participant_number("p-4x") is None
    assert participant_number("42") is None
