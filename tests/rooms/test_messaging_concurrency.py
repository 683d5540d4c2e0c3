"""Several writers at once, each on its own PostgreSQL connection (as two daphne instances would
be): seq stays gap-free and a client_msg_id still makes one message."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from rooms.messaging import message_post
from rooms.models import Membership, Message, Room

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4
PER_THREAD = 25


def run_in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in `count` threads released together; each thread has its own database
    connection (Django opens one per thread) and closes it when done."""
    barrier = threading.Barrier(count, timeout=30)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer did not finish"
    assert errors == []
    return results


def test_concurrent_writers_get_exactly_seqs_1_to_100_without_gaps(family_room):
    members = list(Membership.objects.filter(room=family_room).order_by("pk"))
    assert len(members) == 3

    def write(index: int) -> list[int]:
        membership = Membership.objects.select_related("room").get(
            pk=members[index % len(members)].pk
        )
        return [
            message_post(
                membership=membership, client_msg_id=f"t{index}-{n}", body=f"thread {index} #{n}"
            ).value.seq
            for n in range(PER_THREAD)
        ]

    per_thread = run_in_threads(THREADS, write)

    every = sorted(seq for seqs in per_thread for seq in seqs)
    assert every == list(range(1, THREADS * PER_THREAD + 1))
    for seqs in per_thread:
        assert seqs == sorted(seqs)  # each writer sees its own messages in order
    assert Room.objects.get(pk=family_room.pk).last_seq == THREADS * PER_THREAD
    stored = list(Message.objects.filter(room=family_room).values_list("seq", flat=True))
    assert sorted(stored) == every


def test_the_same_client_msg_id_sent_at_once_from_four_connections_makes_one_message(
    family_room,
):
    alex = Membership.objects.get(room=family_room, user__username="alex@test.hearth")

    def resend(_index: int) -> tuple[int, bool, int]:
        membership = Membership.objects.select_related("room").get(pk=alex.pk)
        outcome = message_post(membership=membership, client_msg_id="dup-1", body="only once")
        return outcome.value.seq, outcome.value.created, len(outcome.effects)

    results = run_in_threads(THREADS, resend)

    assert {seq for seq, _, _ in results} == {1}
    assert sorted(created for _, created, _ in results) == [False, False, False, True]
    assert sum(effects for _, _, effects in results) == 1
    assert Message.objects.filter(room=family_room).count() == 1
    assert Room.objects.get(pk=family_room.pk).last_seq == 1
