"""Two moderators on two instances acting on one person at once end in one state with one set
of events. Each thread has its own database connection, as two daphne processes would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from rooms import moderation
from rooms.errors import DomainError
from rooms.events import MODERATION, RoomEvent
from rooms.models import AuditEvent
from tests.rooms.moderation_kit import admitted, make_group, open_socket, participant, pid

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment in separate threads; each result is the call's
    return value or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - the result under test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


def moderation_events(results: list[Any]) -> list[dict[str, Any]]:
    return [
        effect.data
        for result in results
        if not isinstance(result, Exception)
        for effect in result.effects
        if isinstance(effect, RoomEvent) and effect.type == MODERATION
    ]


def test_admit_and_deny_at_once_end_in_exactly_one_outcome(make_user):
    group = make_group(make_user)
    open_socket(group.jordan, group.room)
    jordan = pid(group.jordan, group.room)
    results = race(
        lambda: moderation.participant_admit(
            actor=group.dana, room=group.room, participant_id=jordan
        ),
        lambda: moderation.participant_deny(
            actor=group.fran, room=group.room, participant_id=jordan
        ),
    )
    winners = [r for r in results if not isinstance(r, Exception) and r.effects]
    losers = [r for r in results if r not in winners]
    assert len(winners) == 1
    assert len(losers) == 1
    loser = losers[0]
    assert isinstance(loser, DomainError) or loser.effects == []
    if isinstance(loser, DomainError):
        assert loser.code == "not_waiting"
    state = participant(group.jordan, group.room).state
    (done,) = moderation_events(results)
    assert {"admit": "admitted", "deny": "denied"}[done["action"]] == state
    assert AuditEvent.objects.filter(action__in=["mod.admit", "mod.deny"]).count() == 1


def test_two_moderators_admitting_the_same_person_announce_it_once(make_user):
    group = make_group(make_user)
    open_socket(group.jordan, group.room)
    jordan = pid(group.jordan, group.room)
    results = race(
        lambda: moderation.participant_admit(
            actor=group.dana, room=group.room, participant_id=jordan
        ),
        lambda: moderation.participant_admit(
            actor=group.fran, room=group.room, participant_id=jordan
        ),
    )
    assert not any(isinstance(r, Exception) for r in results)
    assert sorted(r.value.changed for r in results) == [False, True]
    assert len(moderation_events(results)) == 1
    assert AuditEvent.objects.filter(action="mod.admit").count() == 1


def test_mute_and_unmute_at_once_leave_the_state_the_last_event_describes(make_user):
    group = make_group(make_user)
    admitted(group.jordan, group.room, by=group.dana)
    jordan = pid(group.jordan, group.room)
    results = race(
        lambda: moderation.participant_mute(
            actor=group.dana, room=group.room, participant_id=jordan, audio=True
        ),
        lambda: moderation.participant_unmute(
            actor=group.fran, room=group.room, participant_id=jordan
        ),
    )
    assert not any(isinstance(r, Exception) for r in results)
    updates = [
        effect.data["participant"]
        for result in results
        for effect in result.effects
        if isinstance(effect, RoomEvent) and effect.type == "participant.updated"
    ]
    final = moderation.participant_snapshot(participant(group.jordan, group.room))
    # Versions order the updates; the newest one is what everyone ends up seeing.
    newest = max(updates, key=lambda snapshot: snapshot["version"])
    assert newest == final
    assert len({u["version"] for u in updates}) == len(updates)
