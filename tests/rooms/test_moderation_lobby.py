"""Waiting room, admission, leases, lock, return to lobby, deny (rooms.moderation)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from rooms import moderation
from rooms.errors import DomainError, Forbidden, NotFound
from rooms.events import LOBBY_UPDATED, MODERATION, PARTICIPANT_JOINED, PARTICIPANT_LEFT
from rooms.models import Attendance, AuditEvent, Membership, Room
from tests.rooms.moderation_kit import (
    T0,
    admitted,
    at,
    close_sockets,
    event,
    make_group,
    open_socket,
    participant,
    pid,
    summary,
)

pytestmark = pytest.mark.django_db


# --- arriving ------------------------------------------------------------------------------


def test_someone_who_is_not_a_member_is_told_the_room_does_not_exist(group, make_user):
    stranger = make_user("stranger")
    with pytest.raises(NotFound):
        moderation.participant_connect(user=stranger, room=group.room, now=T0)


def test_a_banned_member_cannot_connect(group):
    Membership.objects.filter(user=group.sam, room=group.room).update(banned_at=T0)
    with pytest.raises(Forbidden) as caught:
        open_socket(group.sam, group.room)
    assert caught.value.code == "banned"


def test_arriving_is_knocking_the_person_waits_and_only_moderators_hear_of_it(group):
    outcome = open_socket(group.jordan, group.room, at(0))
    decision = outcome.value
    assert decision.admitted is False
    assert decision.position == 1
    assert participant(group.jordan, group.room).state == "waiting"
    assert summary(outcome) == [("room", LOBBY_UPDATED, "moderators")]
    assert event(outcome, LOBBY_UPDATED)["lobby"] == [
        {
            "id": pid(group.jordan, group.room),
            "display_name": "Jordan",
            "relationship": "mother",
            "role": "family",
            "waiting_since": T0.isoformat(),
            "waited_seconds": 0,
        }
    ]


def test_the_lobby_lists_people_in_arrival_order_with_how_long_they_waited(group):
    open_socket(group.jordan, group.room, at(0))
    second = open_socket(group.sam, group.room, at(2))
    assert second.value.position == 2
    lobby = moderation.lobby_snapshot(room=group.room, now=at(5))
    assert [(p["display_name"], p["waited_seconds"]) for p in lobby] == [
        ("Jordan", 300),
        ("Sam", 180),
    ]


def test_a_moderator_goes_straight_in_and_the_room_is_told(group):
    outcome = open_socket(group.dana, group.room)
    assert outcome.value.admitted is True
    assert summary(outcome) == [("room", PARTICIPANT_JOINED, "admitted")]
    snapshot = event(outcome, PARTICIPANT_JOINED)["participant"]
    assert snapshot["id"] == pid(group.dana, group.room)
    assert snapshot["is_moderator"] is True
    assert snapshot["state"] == "admitted"


def test_people_who_arrive_before_the_moderator_keep_waiting_when_the_moderator_arrives(group):
    open_socket(group.jordan, group.room, at(0))
    open_socket(group.sam, group.room, at(1))
    open_socket(group.dana, group.room, at(2))
    assert participant(group.jordan, group.room).state == "waiting"
    assert participant(group.sam, group.room).state == "waiting"
    assert [p["display_name"] for p in moderation.lobby_snapshot(room=group.room)] == [
        "Jordan",
        "Sam",
    ]
    moderation.participant_admit(
        actor=group.dana, room=group.room, participant_id=pid(group.sam, group.room), now=at(3)
    )
    assert participant(group.sam, group.room).state == "admitted"
    assert participant(group.jordan, group.room).state == "waiting"


def test_a_second_socket_of_someone_in_the_room_changes_nothing_and_announces_nothing(group):
    open_socket(group.dana, group.room, at(0))
    again = open_socket(group.dana, group.room, at(1))
    assert again.value.admitted is True
    assert again.effects == []
    assert Attendance.objects.filter(room=group.room, user=group.dana).count() == 1


def test_a_second_socket_of_someone_waiting_keeps_their_place(group):
    open_socket(group.jordan, group.room, at(0))
    open_socket(group.sam, group.room, at(1))
    again = open_socket(group.jordan, group.room, at(4))
    assert again.value.position == 1
    assert again.effects == []
    assert participant(group.jordan, group.room).waiting_since == at(0)


def test_someone_waiting_who_drops_leaves_the_lobby_list_and_keeps_their_place_briefly(group):
    open_socket(group.jordan, group.room, at(0))
    open_socket(group.sam, group.room, at(1))
    gone = close_sockets(group.jordan, group.room, at(2))
    assert summary(gone) == [("room", LOBBY_UPDATED, "moderators")]
    assert [p["display_name"] for p in event(gone, LOBBY_UPDATED)["lobby"]] == ["Sam"]
    back = open_socket(group.jordan, group.room, at(3))
    assert back.value.position == 1
    assert participant(group.jordan, group.room).waiting_since == at(0)


def test_someone_waiting_who_comes_back_after_the_grace_period_queues_again(group):
    open_socket(group.jordan, group.room, at(0))
    open_socket(group.sam, group.room, at(1))
    close_sockets(group.jordan, group.room, at(2))
    back = open_socket(group.jordan, group.room, at(2 + 6))
    assert back.value.position == 2
    assert participant(group.jordan, group.room).waiting_since == at(8)


def test_with_the_waiting_room_off_members_go_straight_in(make_user):
    group = make_group(make_user, waiting_room_enabled=False)
    outcome = open_socket(group.jordan, group.room)
    assert outcome.value.admitted is True
    assert summary(outcome) == [("room", PARTICIPANT_JOINED, "admitted")]


def test_auto_admit_members_admits_people_who_were_admitted_before_and_holds_first_timers(
    make_user,
):
    group = make_group(make_user, auto_admit_members=True)
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    close_sockets(group.jordan, group.room, at(10))
    # Next week: no lease any more, but Jordan is a known member.
    next_week = at(60 * 24 * 7)
    assert open_socket(group.jordan, group.room, next_week).value.admitted is True
    first_timer = open_socket(group.sam, group.room, next_week)
    assert first_timer.value.admitted is False


# --- admit and deny ------------------------------------------------------------------------


def test_admitting_someone_lets_them_in_and_tells_them_the_room_and_the_moderators(group):
    open_socket(group.dana, group.room, at(0))
    open_socket(group.jordan, group.room, at(1))
    jordan = pid(group.jordan, group.room)
    outcome = moderation.participant_admit(
        actor=group.dana, room=group.room, participant_id=jordan, now=at(2)
    )
    assert outcome.value.changed is True
    assert summary(outcome) == [
        ("room", MODERATION, "admitted"),
        ("admitted", group.jordan.pk),
        ("room", PARTICIPANT_JOINED, "admitted"),
        ("room", LOBBY_UPDATED, "moderators"),
    ]
    assert event(outcome, MODERATION) == {
        "action": "admit",
        "by": pid(group.dana, group.room),
        "target": jordan,
    }
    assert event(outcome, LOBBY_UPDATED)["lobby"] == []
    assert event(outcome, PARTICIPANT_JOINED)["participant"]["id"] == jordan
    stretch = Attendance.objects.get(room=group.room, user=group.jordan)
    assert (stretch.joined_at, stretch.admitted_by, stretch.reconnect) == (at(2), group.dana, False)
    audit = AuditEvent.objects.get(action="mod.admit")
    assert (audit.actor, audit.target_user, audit.target) == (group.dana, group.jordan, jordan)
    assert AuditEvent.objects.filter(action="participant.joined", actor=group.jordan).exists()


def test_admitting_someone_already_in_is_a_no_op_without_events(group):
    admitted(group.jordan, group.room, by=group.dana)
    again = moderation.participant_admit(
        actor=group.fran, room=group.room, participant_id=pid(group.jordan, group.room)
    )
    assert again.value.changed is False
    assert again.effects == []
    assert AuditEvent.objects.filter(action="mod.admit").count() == 1


def test_someone_who_left_the_lobby_cannot_be_admitted(group):
    open_socket(group.jordan, group.room, at(0))
    close_sockets(group.jordan, group.room, at(1))
    with pytest.raises(DomainError) as caught:
        moderation.participant_admit(
            actor=group.dana, room=group.room, participant_id=pid(group.jordan, group.room)
        )
    assert caught.value.code == "not_waiting"


def test_denying_someone_closes_their_sockets_and_only_moderators_hear_of_it(group):
    open_socket(group.jordan, group.room, at(0))
    jordan = pid(group.jordan, group.room)
    outcome = moderation.participant_deny(
        actor=group.fran, room=group.room, participant_id=jordan, now=at(1)
    )
    assert summary(outcome) == [
        ("room", MODERATION, "moderators"),
        ("close", "denied", group.jordan.pk),
        ("room", LOBBY_UPDATED, "moderators"),
    ]
    assert participant(group.jordan, group.room).state == "denied"
    assert AuditEvent.objects.filter(action="mod.deny", target_user=group.jordan).count() == 1
    # A second deny changes nothing; an admit after the deny is refused.
    assert (
        moderation.participant_deny(
            actor=group.dana, room=group.room, participant_id=jordan
        ).effects
        == []
    )
    with pytest.raises(DomainError) as caught:
        moderation.participant_admit(actor=group.dana, room=group.room, participant_id=jordan)
    assert caught.value.code == "not_waiting"


def test_someone_denied_who_knocks_again_waits_even_where_members_walk_straight_in(group):
    room = group.room
    open_socket(group.jordan, room, at(0))
    moderation.participant_deny(actor=group.dana, room=room, participant_id=pid(group.jordan, room))
    close_sockets(group.jordan, room, at(1))
    Room.objects.filter(pk=room.pk).update(waiting_room_enabled=False)
    again = open_socket(group.jordan, room, at(2))
    assert again.value.admitted is False
    assert summary(again) == [("room", LOBBY_UPDATED, "moderators")]
    assert open_socket(group.sam, room, at(2)).value.admitted is True


# --- leases --------------------------------------------------------------------------------


def test_someone_who_drops_is_announced_as_gone_and_gets_a_lease(group):
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    gone = close_sockets(group.jordan, group.room, at(10))
    assert summary(gone) == [("room", PARTICIPANT_LEFT, "admitted")]
    assert event(gone, PARTICIPANT_LEFT) == {"participant": pid(group.jordan, group.room)}
    row = participant(group.jordan, group.room)
    assert row.lease_until == at(10) + timedelta(seconds=300)
    assert Attendance.objects.get(user=group.jordan).left_at == at(10)
    assert AuditEvent.objects.filter(action="participant.left", actor=group.jordan).exists()


def test_a_lease_lets_someone_back_in_without_knocking_within_the_grace_period(group):
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    close_sockets(group.jordan, group.room, at(10))
    back = open_socket(group.jordan, group.room, at(14))
    assert back.value.admitted is True
    assert back.value.reconnect is True
    assert summary(back) == [("room", PARTICIPANT_JOINED, "admitted")]
    stretches = list(Attendance.objects.filter(user=group.jordan).order_by("joined_at"))
    assert [(s.reconnect, s.admitted_by) for s in stretches] == [
        (False, group.dana),
        (True, group.dana),
    ]
    assert AuditEvent.objects.filter(action="participant.readmitted", actor=group.jordan).exists()


def test_after_the_grace_period_the_person_knocks_again(group):
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    close_sockets(group.jordan, group.room, at(10))
    back = open_socket(group.jordan, group.room, at(15, seconds=1))
    assert back.value.admitted is False
    assert participant(group.jordan, group.room).state == "waiting"


@override_settings(READMISSION_GRACE_SECONDS=30)
def test_the_grace_period_is_configurable(group):
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    close_sockets(group.jordan, group.room, at(1))
    assert open_socket(group.jordan, group.room, at(1, seconds=31)).value.admitted is False


# --- lock ----------------------------------------------------------------------------------


def test_while_locked_newcomers_wait_but_lease_holders_and_moderators_get_in(make_user):
    group = make_group(make_user, waiting_room_enabled=False)
    room = group.room
    open_socket(group.alex, room, at(0))
    close_sockets(group.alex, room, at(5))
    locked = moderation.room_lock(actor=group.dana, room=room, locked=True, now=at(6))
    assert summary(locked) == [
        ("room", MODERATION, "admitted"),
        ("room", "room.updated", "admitted"),
    ]
    assert event(locked, "room.updated")["room"]["locked"] is True
    assert open_socket(group.jordan, room, at(7)).value.admitted is False
    assert open_socket(group.alex, room, at(8)).value.admitted is True
    assert open_socket(group.fran, room, at(9)).value.admitted is True


def test_a_moderator_can_still_admit_someone_by_hand_while_the_room_is_locked(group):
    moderation.room_lock(actor=group.dana, room=group.room, locked=True)
    open_socket(group.jordan, group.room)
    outcome = moderation.participant_admit(
        actor=group.dana, room=group.room, participant_id=pid(group.jordan, group.room)
    )
    assert outcome.value.changed is True
    assert participant(group.jordan, group.room).state == "admitted"


def test_locking_a_locked_room_is_a_no_op(group):
    moderation.room_lock(actor=group.dana, room=group.room, locked=True)
    again = moderation.room_lock(actor=group.fran, room=group.room, locked=True)
    assert again.value.changed is False
    assert again.effects == []
    assert AuditEvent.objects.filter(action="mod.lock").count() == 1


# --- return to lobby -----------------------------------------------------------------------


def test_return_to_lobby_moves_someone_back_to_waiting_without_closing_them(group):
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    jordan = pid(group.jordan, group.room)
    outcome = moderation.participant_return_to_lobby(
        actor=group.dana, room=group.room, participant_id=jordan, now=at(10)
    )
    assert summary(outcome) == [
        ("room", MODERATION, "admitted"),
        ("to_lobby", group.jordan.pk),
        ("room", PARTICIPANT_LEFT, "admitted"),
        ("room", LOBBY_UPDATED, "moderators"),
    ]
    assert [p["id"] for p in event(outcome, LOBBY_UPDATED)["lobby"]] == [jordan]
    row = participant(group.jordan, group.room)
    assert (row.state, row.lease_until) == ("waiting", None)
    assert Attendance.objects.get(user=group.jordan).left_at == at(10)
    with pytest.raises(DomainError) as caught:
        moderation.require_admitted(user=group.jordan, room=group.room)
    assert caught.value.code == "not_admitted"


def test_someone_returned_to_the_lobby_who_reloads_stays_in_the_lobby(make_user):
    group = make_group(make_user, waiting_room_enabled=False)
    room = group.room
    open_socket(group.jordan, room, at(0))
    moderation.participant_return_to_lobby(
        actor=group.dana, room=room, participant_id=pid(group.jordan, room), now=at(1)
    )
    close_sockets(group.jordan, room, at(2))  # the lease was cancelled: no way back by reload
    assert open_socket(group.jordan, room, at(2, seconds=5)).value.admitted is False


def test_admitting_someone_returned_to_the_lobby_restores_them(group):
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    jordan = pid(group.jordan, group.room)
    moderation.participant_return_to_lobby(actor=group.dana, room=group.room, participant_id=jordan)
    moderation.participant_admit(actor=group.dana, room=group.room, participant_id=jordan)
    assert moderation.require_admitted(user=group.jordan, room=group.room).state == "admitted"


def test_someone_who_is_not_in_the_session_cannot_be_sent_to_the_lobby(group):
    sam = pid(group.sam, group.room)
    moderation.participant_remove(actor=group.dana, room=group.room, participant_id=sam)
    with pytest.raises(DomainError) as caught:
        moderation.participant_return_to_lobby(
            actor=group.dana, room=group.room, participant_id=sam
        )
    assert caught.value.code == "not_in_session"


def test_the_owner_and_other_moderators_cannot_be_sent_to_the_lobby(group):
    open_socket(group.dana, group.room)
    open_socket(group.fran, group.room)
    with pytest.raises(Forbidden) as owner:
        moderation.participant_return_to_lobby(
            actor=group.fran, room=group.room, participant_id=pid(group.dana, group.room)
        )
    assert owner.value.code == "cannot_moderate_owner"
    with pytest.raises(Forbidden) as colleague:
        moderation.participant_return_to_lobby(
            actor=group.dana, room=group.room, participant_id=pid(group.fran, group.room)
        )
    assert colleague.value.code == "cannot_moderate_moderator"


# --- per-frame check -----------------------------------------------------------------------


def test_someone_in_the_waiting_room_cannot_chat_or_signal(group):
    open_socket(group.jordan, group.room)
    with pytest.raises(DomainError) as caught:
        moderation.require_admitted(user=group.jordan, room=group.room)
    assert caught.value.code == "not_admitted"
    assert (
        moderation.admitted_participant(
            room=group.room, participant_id=pid(group.jordan, group.room)
        )
        is None
    )


def test_someone_admitted_passes_the_per_frame_check(group):
    admitted(group.jordan, group.room, by=group.dana)
    row = moderation.require_admitted(user=group.jordan, room=group.room)
    assert row.membership.user == group.jordan
