"""Remove, ban, roles, ending a session, hands and the audit trail (rooms.moderation)."""

from __future__ import annotations

from datetime import datetime

import pytest

from rooms import moderation, services
from rooms.errors import DomainError, Forbidden, NotFound
from rooms.events import HANDS, MODERATION, PARTICIPANT_LEFT, SESSION_ENDED
from rooms.models import Attendance, AuditEvent, Membership, Participant, Room
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


# --- remove and ban ------------------------------------------------------------------------


def test_removing_someone_closes_them_everywhere_and_tells_the_room_they_left(group):
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    jordan = pid(group.jordan, group.room)
    outcome = moderation.participant_remove(
        actor=group.fran, room=group.room, participant_id=jordan, now=at(10)
    )
    assert summary(outcome) == [
        ("room", MODERATION, "admitted"),
        ("close", "removed", group.jordan.pk),
        ("room", PARTICIPANT_LEFT, "admitted"),
    ]
    assert event(outcome, MODERATION)["ban"] is False
    row = participant(group.jordan, group.room)
    assert (row.state, row.lease_until) == ("removed", None)
    assert Attendance.objects.get(user=group.jordan).left_at == at(10)
    with pytest.raises(DomainError) as caught:
        moderation.require_admitted(user=group.jordan, room=group.room)
    assert caught.value.code == "not_admitted"
    audit = AuditEvent.objects.get(action="mod.remove")
    assert (audit.actor, audit.target_user, audit.details) == (
        group.fran,
        group.jordan,
        {"ban": False},
    )


def test_removal_revokes_outstanding_websocket_tickets(group):
    admitted(group.jordan, group.room, by=group.dana, now=T0)
    token, _ = services.ticket_issue(user=group.jordan, room=group.room, now=T0)
    moderation.participant_remove(
        actor=group.dana, room=group.room, participant_id=pid(group.jordan, group.room), now=T0
    )
    assert services.ticket_consume(token=token, room_id=str(group.room.pk), now=T0) is None


def test_removal_cancels_the_lease_of_someone_who_had_just_dropped(group):
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    close_sockets(group.jordan, group.room, at(1))
    moderation.participant_remove(
        actor=group.dana, room=group.room, participant_id=pid(group.jordan, group.room), now=at(2)
    )
    assert open_socket(group.jordan, group.room, at(3)).value.admitted is False


def test_someone_removed_who_reconnects_waits_even_where_members_walk_straight_in(make_user):
    group = make_group(make_user, waiting_room_enabled=False)
    room = group.room
    open_socket(group.jordan, room, at(0))
    moderation.participant_remove(
        actor=group.dana, room=room, participant_id=pid(group.jordan, room), now=at(1)
    )
    close_sockets(group.jordan, room, at(1))
    back = open_socket(group.jordan, room, at(2))
    assert back.value.admitted is False
    assert participant(group.jordan, room).state == "waiting"
    # A second socket does not slip past either.
    assert open_socket(group.jordan, room, at(3)).value.admitted is False


def test_removing_someone_already_removed_is_a_no_op(group):
    admitted(group.jordan, group.room, by=group.dana)
    jordan = pid(group.jordan, group.room)
    moderation.participant_remove(actor=group.dana, room=group.room, participant_id=jordan)
    again = moderation.participant_remove(actor=group.fran, room=group.room, participant_id=jordan)
    assert again.effects == []
    assert AuditEvent.objects.filter(action="mod.remove").count() == 1


def test_a_ban_blocks_reconnecting_tickets_and_invitations_until_it_is_lifted(group):
    admitted(group.sam, group.room, by=group.dana, now=at(0))
    sam = pid(group.sam, group.room)
    outcome = moderation.participant_remove(
        actor=group.dana, room=group.room, participant_id=sam, ban=True, now=at(1)
    )
    assert ("close", "banned", group.sam.pk) in summary(outcome)
    membership = Membership.objects.get(user=group.sam, room=group.room)
    assert (membership.banned_at, membership.banned_by) == (at(1), group.dana)
    close_sockets(group.sam, group.room, at(1))

    with pytest.raises(Forbidden) as connect:
        open_socket(group.sam, group.room, at(2))
    assert connect.value.code == "banned"
    with pytest.raises(Forbidden) as ticket:
        services.ticket_issue(user=group.sam, room=group.room, now=at(2))
    assert ticket.value.code == "banned"
    _, invitation = services.invitation_create(
        actor=group.dana, room=group.room, email="sam-again@test.hearth", role="family"
    )
    with pytest.raises(Forbidden):
        services.invitation_accept(
            token=invitation,
            display_name="Sam",
            password="",
            time_zone="UTC",
            existing_user=group.sam,
        )

    unban = moderation.participant_unban(actor=group.fran, room=group.room, participant_id=sam)
    assert summary(unban) == [("room", MODERATION, "moderators")]
    assert AuditEvent.objects.filter(action="mod.unban", target_user=group.sam).count() == 1
    services.ticket_issue(user=group.sam, room=group.room, now=at(3))
    back = open_socket(group.sam, group.room, at(3))
    assert back.value.admitted is False  # unbanned people knock like anyone removed
    assert (
        moderation.participant_unban(actor=group.fran, room=group.room, participant_id=sam).effects
        == []
    )


def test_banning_someone_who_never_came_is_possible(group):
    moderation.participant_remove(
        actor=group.dana, room=group.room, participant_id=pid(group.sam, group.room), ban=True
    )
    with pytest.raises(Forbidden):
        open_socket(group.sam, group.room)


def test_nobody_can_remove_the_room_owner(group):
    open_socket(group.dana, group.room)
    with pytest.raises(Forbidden) as caught:
        moderation.participant_remove(
            actor=group.fran, room=group.room, participant_id=pid(group.dana, group.room), ban=True
        )
    assert caught.value.code == "cannot_moderate_owner"
    assert Membership.objects.get(user=group.dana, room=group.room).banned_at is None


# --- roles and targets ---------------------------------------------------------------------


def _every_moderator_action(room: Room, target: str) -> list:
    return [
        lambda actor: moderation.participant_admit(actor=actor, room=room, participant_id=target),
        lambda actor: moderation.participant_deny(actor=actor, room=room, participant_id=target),
        lambda actor: moderation.participant_return_to_lobby(
            actor=actor, room=room, participant_id=target
        ),
        lambda actor: moderation.participant_mute(
            actor=actor, room=room, participant_id=target, audio=True
        ),
        lambda actor: moderation.participant_unmute(actor=actor, room=room, participant_id=target),
        lambda actor: moderation.participant_remove(
            actor=actor, room=room, participant_id=target, ban=True
        ),
        lambda actor: moderation.participant_unban(actor=actor, room=room, participant_id=target),
        lambda actor: moderation.hand_lower(actor=actor, room=room, participant_id=target),
        lambda actor: moderation.room_lock(actor=actor, room=room, locked=True),
        lambda actor: moderation.room_mute_all(actor=actor, room=room, audio=True),
        lambda actor: moderation.hands_lower_all(actor=actor, room=room),
        lambda actor: moderation.session_end(actor=actor, room=room),
        lambda actor: moderation.session_reopen(actor=actor, room=room),
    ]


def test_forged_moderation_from_a_family_member_is_forbidden_and_changes_nothing(group):
    admitted(group.jordan, group.room, by=group.dana)
    admitted(group.alex, group.room, by=group.dana)
    moderation.hand_raise(user=group.alex, room=group.room)
    open_socket(group.sam, group.room)
    audit_before = AuditEvent.objects.count()
    rows_before = list(Participant.objects.order_by("pk").values())
    room_before = Room.objects.filter(pk=group.room.pk).values().get()
    for target_user in (group.alex, group.sam):
        for action in _every_moderator_action(group.room, pid(target_user, group.room)):
            with pytest.raises(Forbidden) as caught:
                action(group.jordan)
            assert caught.value.code == "forbidden"
    assert list(Participant.objects.order_by("pk").values()) == rows_before
    assert Room.objects.filter(pk=group.room.pk).values().get() == room_before
    assert AuditEvent.objects.count() == audit_before


def test_observers_and_clients_cannot_moderate_either(group):
    for actor in (group.olly, group.alex):
        with pytest.raises(Forbidden) as caught:
            moderation.room_lock(actor=actor, room=group.room, locked=True)
        assert caught.value.code == "forbidden"


def test_a_participant_of_another_room_is_not_found(group, make_user):
    other = make_group(make_user, name="Thursday group")
    open_socket(other.jordan, other.room)
    stranger = pid(other.jordan, other.room)
    for action in _every_moderator_action(group.room, stranger)[:8]:
        with pytest.raises(NotFound) as caught:
            action(group.dana)
        assert caught.value.code == "no_such_participant"
    assert participant(other.jordan, other.room).state == "waiting"


@pytest.mark.parametrize("bad_id", ["", "p-", "p-0", "3", "p-abc", "p-1\n", "x-1"])
def test_a_malformed_participant_id_is_not_found(group, bad_id):
    with pytest.raises(NotFound) as caught:
        moderation.participant_mute(
            actor=group.dana, room=group.room, participant_id=bad_id, audio=True
        )
    assert caught.value.code == "no_such_participant"


# --- ending the session --------------------------------------------------------------------


def test_ending_the_session_closes_everyone_and_cancels_every_lease(group):
    admitted(group.fran, group.room, by=group.dana, now=at(0))
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    admitted(group.alex, group.room, by=group.dana, now=at(0))
    close_sockets(group.alex, group.room, at(50))  # dropped: holds a lease
    open_socket(group.sam, group.room, at(55))  # waiting
    outcome = moderation.session_end(actor=group.dana, room=group.room, now=at(60))
    dana = pid(group.dana, group.room)
    assert summary(outcome) == [
        ("room", MODERATION, "admitted"),
        ("room", SESSION_ENDED, "admitted"),
        *sorted(
            [("close", "session_ended", user.pk) for user in (group.fran, group.jordan, group.sam)],
            key=lambda item: item[2],
        ),
    ]
    assert event(outcome, SESSION_ENDED) == {"by": dana, "ended_at": at(60).isoformat()}
    assert event(outcome, MODERATION) == {"action": "end", "by": dana, "target": None}
    assert not Attendance.objects.filter(room=group.room, left_at__isnull=True).exists()
    assert not Participant.objects.filter(room=group.room, lease_until__isnull=False).exists()
    assert AuditEvent.objects.filter(action="mod.end", actor=group.dana).count() == 1
    # Nobody but a moderator gets back in; the lease holder neither.
    for user in (group.alex, group.jordan):
        with pytest.raises(DomainError) as caught:
            open_socket(user, group.room, at(61))
        assert (caught.value.code, caught.value.status) == ("session_ended", 410)
    assert open_socket(group.fran, group.room, at(61)).value.admitted is True


def test_ending_an_ended_session_is_a_no_op(group):
    moderation.session_end(actor=group.dana, room=group.room, now=at(0))
    again = moderation.session_end(actor=group.fran, room=group.room, now=at(1))
    assert again.value.changed is False
    assert again.effects == []


def test_only_a_moderator_reopens_an_ended_session(group):
    moderation.session_end(actor=group.dana, room=group.room, now=at(0))
    with pytest.raises(Forbidden):
        moderation.session_reopen(actor=group.alex, room=group.room, now=at(1))
    outcome = moderation.session_reopen(actor=group.fran, room=group.room, now=at(1))
    assert summary(outcome) == [
        ("room", MODERATION, "admitted"),
        ("room", "room.updated", "admitted"),
    ]
    assert event(outcome, "room.updated")["room"]["ended"] is False
    assert AuditEvent.objects.filter(action="mod.reopen").count() == 1
    assert open_socket(group.jordan, group.room, at(2)).value.admitted is False  # waits again


def test_the_next_scheduled_occurrence_reopens_an_ended_session_by_itself(group):
    services.session_create(
        actor=group.dana,
        room=group.room,
        starts_at_local=datetime(2026, 3, 2, 15, 0),
        time_zone="UTC",
        duration_minutes=60,
        frequency="weekly",
        count=4,
    )
    moderation.session_end(actor=group.dana, room=group.room, now=at(50))
    before_next = at(60 * 24 * 7 - 1)
    with pytest.raises(DomainError) as caught:
        open_socket(group.jordan, group.room, before_next)
    assert caught.value.code == "session_ended"
    group.room.refresh_from_db()
    assert moderation.session_is_ended(room=group.room, now=before_next) is True
    next_week = at(60 * 24 * 7)
    assert moderation.session_is_ended(room=group.room, now=next_week) is False
    assert open_socket(group.jordan, group.room, next_week).value.admitted is False  # knocks


def test_session_end_clears_per_session_holds_but_keeps_mutes_and_bans(make_user):
    group = make_group(make_user, waiting_room_enabled=False)
    room = group.room
    open_socket(group.jordan, room, at(0))
    open_socket(group.alex, room, at(0))
    moderation.participant_remove(
        actor=group.dana, room=room, participant_id=pid(group.jordan, room)
    )
    moderation.participant_remove(
        actor=group.dana, room=room, participant_id=pid(group.sam, room), ban=True
    )
    moderation.participant_mute(
        actor=group.dana, room=room, participant_id=pid(group.alex, room), audio=True
    )
    moderation.session_end(actor=group.dana, room=room, now=at(10))
    moderation.session_reopen(actor=group.dana, room=room, now=at(20))
    assert open_socket(group.jordan, room, at(21)).value.admitted is True
    with pytest.raises(Forbidden):
        open_socket(group.sam, room, at(21))
    back = open_socket(group.alex, room, at(21))
    assert event(back, "participant.joined")["participant"]["imposed"]["audio"] is True


# --- hands ---------------------------------------------------------------------------------


def test_hands_form_one_queue_in_the_order_they_were_raised(group):
    for user in (group.jordan, group.sam, group.alex):
        admitted(user, group.room, by=group.dana)
    moderation.hand_raise(user=group.sam, room=group.room, now=at(1))
    moderation.hand_raise(user=group.jordan, room=group.room, now=at(2))
    last = moderation.hand_raise(user=group.alex, room=group.room, now=at(3))
    expected = [pid(u, group.room) for u in (group.sam, group.jordan, group.alex)]
    assert event(last, HANDS) == {"queue": expected}
    assert moderation.hands_queue(room=group.room) == expected
    assert moderation.hand_raise(user=group.sam, room=group.room, now=at(4)).effects == []
    assert participant(group.sam, group.room).hand_raised_at == at(1)


def test_someone_waiting_cannot_raise_a_hand(group):
    open_socket(group.jordan, group.room)
    with pytest.raises(DomainError) as caught:
        moderation.hand_raise(user=group.jordan, room=group.room)
    assert caught.value.code == "not_admitted"


def test_people_lower_their_own_hand_and_only_moderators_lower_others(group):
    admitted(group.jordan, group.room, by=group.dana)
    admitted(group.sam, group.room, by=group.dana)
    moderation.hand_raise(user=group.jordan, room=group.room, now=at(1))
    moderation.hand_raise(user=group.sam, room=group.room, now=at(2))
    with pytest.raises(Forbidden):
        moderation.hand_lower(
            actor=group.jordan, room=group.room, participant_id=pid(group.sam, group.room)
        )
    own = moderation.hand_lower(actor=group.jordan, room=group.room)
    assert summary(own) == [("room", HANDS, "admitted")]
    assert event(own, HANDS) == {"queue": [pid(group.sam, group.room)]}
    by_moderator = moderation.hand_lower(
        actor=group.fran, room=group.room, participant_id=pid(group.sam, group.room)
    )
    assert summary(by_moderator) == [("room", MODERATION, "admitted"), ("room", HANDS, "admitted")]
    assert event(by_moderator, HANDS) == {"queue": []}
    assert AuditEvent.objects.filter(action="mod.lower_hand", target_user=group.sam).count() == 1


def test_a_moderator_lowers_every_hand_at_once(group):
    for user in (group.jordan, group.sam):
        admitted(user, group.room, by=group.dana)
        moderation.hand_raise(user=user, room=group.room)
    outcome = moderation.hands_lower_all(actor=group.fran, room=group.room)
    assert summary(outcome) == [("room", MODERATION, "admitted"), ("room", HANDS, "admitted")]
    assert event(outcome, HANDS) == {"queue": []}
    assert moderation.hands_lower_all(actor=group.fran, room=group.room).effects == []


def test_a_hand_is_lowered_when_its_owner_leaves(group):
    admitted(group.jordan, group.room, by=group.dana)
    moderation.hand_raise(user=group.jordan, room=group.room)
    gone = close_sockets(group.jordan, group.room, at(1))
    assert summary(gone) == [("room", PARTICIPANT_LEFT, "admitted"), ("room", HANDS, "admitted")]
    assert moderation.hands_queue(room=group.room) == []


# --- the audit trail -----------------------------------------------------------------------


def test_every_moderation_action_leaves_an_audit_row_naming_who_did_what_to_whom(group):
    room = group.room
    open_socket(group.dana, room, at(0))
    open_socket(group.jordan, room, at(0))
    open_socket(group.sam, room, at(0))
    jordan, sam = pid(group.jordan, room), pid(group.sam, room)
    moderation.participant_admit(actor=group.dana, room=room, participant_id=jordan)
    moderation.participant_deny(actor=group.dana, room=room, participant_id=sam)
    moderation.participant_mute(actor=group.dana, room=room, participant_id=jordan, audio=True)
    moderation.participant_unmute(actor=group.dana, room=room, participant_id=jordan)
    moderation.room_mute_all(actor=group.dana, room=room, audio=True)
    moderation.room_lock(actor=group.dana, room=room, locked=True)
    moderation.hand_raise(user=group.jordan, room=room)
    moderation.hand_lower(actor=group.dana, room=room, participant_id=jordan)
    moderation.hand_raise(user=group.jordan, room=room)
    moderation.hands_lower_all(actor=group.dana, room=room)
    moderation.participant_return_to_lobby(actor=group.dana, room=room, participant_id=jordan)
    moderation.participant_remove(actor=group.dana, room=room, participant_id=jordan, ban=True)
    moderation.participant_unban(actor=group.dana, room=room, participant_id=jordan)
    moderation.session_end(actor=group.dana, room=room, now=at(30))
    moderation.session_reopen(actor=group.dana, room=room, now=at(31))
    actions = list(
        AuditEvent.objects.filter(room=room, action__startswith="mod.")
        .order_by("id")
        .values_list("action", "actor", "target")
    )
    dana = group.dana.pk
    assert actions == [
        ("mod.admit", dana, jordan),
        ("mod.deny", dana, sam),
        ("mod.mute", dana, jordan),
        ("mod.unmute", dana, jordan),
        ("mod.mute_all", dana, ""),
        ("mod.lock", dana, ""),
        ("mod.lower_hand", dana, jordan),
        ("mod.lower_all_hands", dana, ""),
        ("mod.return_to_lobby", dana, jordan),
        ("mod.remove", dana, jordan),
        ("mod.unban", dana, jordan),
        ("mod.end", dana, ""),
        ("mod.reopen", dana, ""),
    ]
