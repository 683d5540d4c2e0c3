"""Mutes that stick: mute, mute_all, unmute, observers, own media (rooms.moderation)."""

from __future__ import annotations

import pytest

from rooms import moderation
from rooms.errors import DomainError, Forbidden, ValidationFailed
from rooms.events import MODERATION, PARTICIPANT_UPDATED, UNMUTE_REQUESTED, UserEvent
from rooms.models import AuditEvent, Membership
from tests.rooms.moderation_kit import (
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


def snapshot(user, room):
    return moderation.participant_snapshot(participant(user, room))


def test_a_moderator_mute_is_imposed_switches_the_medium_off_and_is_shown_to_the_room(group):
    admitted(group.jordan, group.room, by=group.dana)
    jordan = pid(group.jordan, group.room)
    outcome = moderation.participant_mute(
        actor=group.fran, room=group.room, participant_id=jordan, audio=True, chat=True
    )
    assert summary(outcome) == [
        ("room", MODERATION, "admitted"),
        ("room", PARTICIPANT_UPDATED, "admitted"),
    ]
    assert event(outcome, MODERATION) == {
        "action": "mute",
        "by": pid(group.fran, group.room),
        "target": jordan,
        "audio": True,
        "video": False,
        "chat": True,
    }
    shown = event(outcome, PARTICIPANT_UPDATED)["participant"]
    assert shown["imposed"] == {"audio": True, "video": False, "chat": True}
    assert (shown["audio"], shown["video"]) == (False, True)
    audit = AuditEvent.objects.get(action="mod.mute")
    assert (audit.actor, audit.target_user) == (group.fran, group.jordan)
    assert audit.details == {"audio": True, "video": False, "chat": True}


def test_muting_someone_already_muted_is_a_no_op(group):
    admitted(group.jordan, group.room, by=group.dana)
    jordan = pid(group.jordan, group.room)
    moderation.participant_mute(
        actor=group.dana, room=group.room, participant_id=jordan, audio=True
    )
    again = moderation.participant_mute(
        actor=group.fran, room=group.room, participant_id=jordan, audio=True
    )
    assert again.value.changed is False
    assert again.effects == []


def test_a_mute_must_name_at_least_one_medium(group):
    admitted(group.jordan, group.room, by=group.dana)
    with pytest.raises(ValidationFailed):
        moderation.participant_mute(
            actor=group.dana, room=group.room, participant_id=pid(group.jordan, group.room)
        )


def test_a_muted_person_cannot_switch_the_medium_back_on_and_nothing_changes(group):
    admitted(group.jordan, group.room, by=group.dana)
    moderation.participant_mute(
        actor=group.dana, room=group.room, participant_id=pid(group.jordan, group.room), audio=True
    )
    version = participant(group.jordan, group.room).version
    with pytest.raises(DomainError) as caught:
        moderation.media_set(user=group.jordan, room=group.room, audio=True, video=False)
    assert (caught.value.code, caught.value.status) == ("muted_by_moderator", 403)
    row = participant(group.jordan, group.room)
    assert (row.audio_on, row.video_on, row.version) == (False, True, version)
    # Switching the camera off is still the person's own choice.
    off = moderation.media_set(user=group.jordan, room=group.room, audio=None, video=False)
    assert summary(off) == [("room", PARTICIPANT_UPDATED, "admitted")]
    assert event(off, PARTICIPANT_UPDATED)["participant"]["video"] is False


def test_media_set_stores_own_switches_and_repeating_it_is_a_no_op(group):
    admitted(group.jordan, group.room, by=group.dana)
    moderation.media_set(user=group.jordan, room=group.room, audio=False, video=None)
    assert snapshot(group.jordan, group.room)["audio"] is False
    again = moderation.media_set(user=group.jordan, room=group.room, audio=False, video=None)
    assert again.effects == []
    on = moderation.media_set(user=group.jordan, room=group.room, audio=True, video=None)
    assert event(on, PARTICIPANT_UPDATED)["participant"]["audio"] is True


def test_someone_waiting_cannot_switch_media(group):
    open_socket(group.jordan, group.room)
    with pytest.raises(DomainError) as caught:
        moderation.media_set(user=group.jordan, room=group.room, audio=True, video=True)
    assert caught.value.code == "not_admitted"


def test_a_chat_mute_stops_chat_for_that_person_only(group):
    admitted(group.jordan, group.room, by=group.dana)
    admitted(group.sam, group.room, by=group.dana)
    moderation.participant_mute(
        actor=group.dana, room=group.room, participant_id=pid(group.jordan, group.room), chat=True
    )
    jordan = Membership.objects.get(user=group.jordan, room=group.room)
    sam = Membership.objects.get(user=group.sam, room=group.room)
    with pytest.raises(DomainError) as caught:
        moderation.require_can_chat(membership=jordan)
    assert caught.value.code == "chat_muted"
    moderation.require_can_chat(membership=sam)


def test_a_muted_person_who_reconnects_is_still_muted(group):
    admitted(group.jordan, group.room, by=group.dana, now=at(0))
    moderation.participant_mute(
        actor=group.dana,
        room=group.room,
        participant_id=pid(group.jordan, group.room),
        audio=True,
        chat=True,
        now=at(1),
    )
    close_sockets(group.jordan, group.room, at(2))
    back = open_socket(group.jordan, group.room, at(3))  # within the lease
    assert back.value.admitted is True
    assert event(back, "participant.joined")["participant"]["imposed"]["audio"] is True
    # And after the lease, once admitted again by hand.
    close_sockets(group.jordan, group.room, at(4))
    admitted(group.jordan, group.room, by=group.fran, now=at(30))
    shown = snapshot(group.jordan, group.room)
    assert shown["imposed"] == {"audio": True, "video": False, "chat": True}
    with pytest.raises(DomainError):
        moderation.require_can_chat(
            membership=Membership.objects.get(user=group.jordan, room=group.room)
        )


def test_nobody_can_mute_the_room_owner(group):
    open_socket(group.dana, group.room)
    with pytest.raises(Forbidden) as caught:
        moderation.participant_mute(
            actor=group.fran,
            room=group.room,
            participant_id=pid(group.dana, group.room),
            audio=True,
        )
    assert caught.value.code == "cannot_moderate_owner"


# --- unmute --------------------------------------------------------------------------------


def test_unmute_lifts_the_mute_asks_the_person_and_never_switches_their_microphone_on(group):
    admitted(group.jordan, group.room, by=group.dana)
    jordan = pid(group.jordan, group.room)
    moderation.participant_mute(
        actor=group.dana, room=group.room, participant_id=jordan, audio=True, video=True
    )
    outcome = moderation.participant_unmute(
        actor=group.fran, room=group.room, participant_id=jordan
    )
    assert summary(outcome) == [
        ("room", MODERATION, "admitted"),
        ("room", PARTICIPANT_UPDATED, "admitted"),
        ("user", UNMUTE_REQUESTED, group.jordan.pk),
    ]
    request = next(e for e in outcome.effects if isinstance(e, UserEvent))
    assert request.data == {"by": "Fran", "audio": True, "video": True}
    shown = event(outcome, PARTICIPANT_UPDATED)["participant"]
    assert shown["imposed"] == {"audio": False, "video": False, "chat": False}
    assert (shown["audio"], shown["video"]) == (False, False)
    # The person decides: now they may switch on.
    on = moderation.media_set(user=group.jordan, room=group.room, audio=True, video=None)
    assert event(on, PARTICIPANT_UPDATED)["participant"]["audio"] is True
    assert AuditEvent.objects.filter(action="mod.unmute", target_user=group.jordan).count() == 1


def test_unmuting_someone_who_is_not_muted_is_a_no_op(group):
    admitted(group.jordan, group.room, by=group.dana)
    outcome = moderation.participant_unmute(
        actor=group.dana, room=group.room, participant_id=pid(group.jordan, group.room)
    )
    assert outcome.value.changed is False
    assert outcome.effects == []


def test_lifting_only_a_chat_mute_asks_nobody_to_unmute(group):
    admitted(group.jordan, group.room, by=group.dana)
    jordan = pid(group.jordan, group.room)
    moderation.participant_mute(actor=group.dana, room=group.room, participant_id=jordan, chat=True)
    outcome = moderation.participant_unmute(
        actor=group.dana, room=group.room, participant_id=jordan, audio=False, video=False
    )
    assert summary(outcome) == [
        ("room", MODERATION, "admitted"),
        ("room", PARTICIPANT_UPDATED, "admitted"),
    ]
    moderation.require_can_chat(
        membership=Membership.objects.get(user=group.jordan, room=group.room)
    )


# --- mute all ------------------------------------------------------------------------------


def test_mute_all_mutes_every_non_moderator_and_tells_the_room_about_each(group):
    open_socket(group.dana, group.room)
    admitted(group.jordan, group.room, by=group.dana)
    admitted(group.sam, group.room, by=group.dana)
    open_socket(group.alex, group.room)  # still waiting: not announced to the room
    outcome = moderation.room_mute_all(actor=group.fran, room=group.room, audio=True)
    assert summary(outcome) == [
        ("room", MODERATION, "admitted"),
        ("room", "room.updated", "admitted"),
        ("room", PARTICIPANT_UPDATED, "admitted"),
        ("room", PARTICIPANT_UPDATED, "admitted"),
    ]
    updated = {
        e.data["participant"]["id"] for e in outcome.effects if e.type == PARTICIPANT_UPDATED
    }
    assert updated == {pid(group.jordan, group.room), pid(group.sam, group.room)}
    assert event(outcome, "room.updated")["room"]["mute_all"] == {
        "audio": True,
        "video": False,
        "chat": False,
    }
    assert snapshot(group.dana, group.room)["imposed"]["audio"] is False
    assert snapshot(group.jordan, group.room)["imposed"]["audio"] is True
    assert AuditEvent.objects.get(action="mod.mute_all").details == {
        "audio": True,
        "video": False,
        "chat": False,
    }
    again = moderation.room_mute_all(actor=group.dana, room=group.room, audio=True)
    assert again.effects == []


def test_mute_all_applies_to_people_admitted_later(group):
    moderation.room_mute_all(actor=group.dana, room=group.room, audio=True, chat=True)
    joined = admitted(group.alex, group.room, by=group.dana)
    shown = event(joined, "participant.joined")["participant"]
    assert shown["imposed"] == {"audio": True, "video": False, "chat": True}
    assert shown["audio"] is False
    with pytest.raises(DomainError) as caught:
        moderation.media_set(user=group.alex, room=group.room, audio=True, video=None)
    assert caught.value.code == "muted_by_moderator"
    with pytest.raises(DomainError) as chat:
        moderation.require_can_chat(
            membership=Membership.objects.get(user=group.alex, room=group.room)
        )
    assert chat.value.code == "chat_muted"


def test_unmuting_one_person_during_mute_all_lets_only_them_speak(group):
    admitted(group.jordan, group.room, by=group.dana)
    admitted(group.sam, group.room, by=group.dana)
    moderation.room_mute_all(actor=group.dana, room=group.room, audio=True)
    outcome = moderation.participant_unmute(
        actor=group.dana, room=group.room, participant_id=pid(group.jordan, group.room)
    )
    assert ("user", UNMUTE_REQUESTED, group.jordan.pk) in summary(outcome)
    assert snapshot(group.jordan, group.room)["imposed"]["audio"] is False
    assert snapshot(group.sam, group.room)["imposed"]["audio"] is True
    moderation.media_set(user=group.jordan, room=group.room, audio=True, video=None)
    # Muting everyone again includes Jordan once more.
    again = moderation.room_mute_all(actor=group.dana, room=group.room, audio=True)
    updated = [e.data["participant"] for e in again.effects if e.type == PARTICIPANT_UPDATED]
    assert [(p["id"], p["audio"]) for p in updated] == [(pid(group.jordan, group.room), False)]


def test_mute_all_with_a_medium_false_lifts_the_room_wide_mute_and_asks_people(group):
    admitted(group.jordan, group.room, by=group.dana)
    admitted(group.sam, group.room, by=group.dana)
    moderation.participant_mute(
        actor=group.dana, room=group.room, participant_id=pid(group.sam, group.room), audio=True
    )
    moderation.room_mute_all(actor=group.dana, room=group.room, audio=True)
    lifted = moderation.room_mute_all(actor=group.dana, room=group.room, audio=False)
    # Jordan is free to speak and asked to; Sam's own mute stands, so nothing changes for Sam.
    assert summary(lifted) == [
        ("room", MODERATION, "admitted"),
        ("room", "room.updated", "admitted"),
        ("room", PARTICIPANT_UPDATED, "admitted"),
        ("user", UNMUTE_REQUESTED, group.jordan.pk),
    ]
    assert snapshot(group.jordan, group.room)["audio"] is False  # not switched on for them
    assert snapshot(group.sam, group.room)["imposed"]["audio"] is True


# --- observers -----------------------------------------------------------------------------


def test_observers_join_muted_and_cannot_unmute_themselves(group):
    joined = admitted(group.olly, group.room, by=group.dana)
    shown = event(joined, "participant.joined")["participant"]
    assert shown["role"] == "observer"
    assert (shown["audio"], shown["video"]) == (False, False)
    assert shown["imposed"] == {"audio": True, "video": True, "chat": False}
    with pytest.raises(DomainError) as caught:
        moderation.media_set(user=group.olly, room=group.room, audio=True, video=None)
    assert caught.value.code == "observer_media_off"


def test_a_moderator_unmute_does_not_give_an_observer_a_microphone(group):
    admitted(group.olly, group.room, by=group.dana)
    outcome = moderation.participant_unmute(
        actor=group.dana, room=group.room, participant_id=pid(group.olly, group.room)
    )
    assert outcome.effects == []
    assert snapshot(group.olly, group.room)["imposed"]["audio"] is True


def test_observers_stay_muted_with_the_waiting_room_off(make_user):
    group = make_group(make_user, waiting_room_enabled=False)
    joined = open_socket(group.olly, group.room)
    assert event(joined, "participant.joined")["participant"]["imposed"]["video"] is True


# --- hands ---------------------------------------------------------------------------------


def test_a_muted_person_can_still_raise_a_hand(group):
    admitted(group.jordan, group.room, by=group.dana)
    moderation.participant_mute(
        actor=group.dana,
        room=group.room,
        participant_id=pid(group.jordan, group.room),
        audio=True,
        chat=True,
    )
    raised = moderation.hand_raise(user=group.jordan, room=group.room, now=at(1))
    assert summary(raised) == [("room", "hands", "admitted")]
    assert event(raised, "hands") == {"queue": [pid(group.jordan, group.room)]}
