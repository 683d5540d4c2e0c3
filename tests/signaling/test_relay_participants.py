"""signal_check_participants against real Participant rows."""

import pytest

from rooms.models import Membership, Participant, ParticipantState
from signaling.relay import signal_check_participants


def participant(room, user, state):
    membership = Membership.objects.get(room=room, user=user)
    return Participant.objects.update_or_create(
        membership=membership, defaults={"room": room, "state": state}
    )[0]


def code_of(**rows) -> str:
    from rooms.errors import DomainError

    with pytest.raises(DomainError) as caught:
        signal_check_participants(**rows)
    return caught.value.code


@pytest.fixture
def admitted_pair(family_room, therapist):
    client = participant(family_room, family_room.test_client_user, ParticipantState.ADMITTED)
    host = participant(family_room, therapist, ParticipantState.ADMITTED)
    return client, host


@pytest.mark.django_db
def test_admitted_participants_of_one_room_may_signal_each_other(admitted_pair):
    client, host = admitted_pair
    signal_check_participants(sender=client, target=host)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "state", [ParticipantState.WAITING, ParticipantState.DENIED, ParticipantState.REMOVED]
)
def test_a_sender_who_is_not_admitted_gets_not_admitted(family_room, admitted_pair, state):
    _, host = admitted_pair
    waiting = participant(family_room, family_room.test_family_user, state)
    assert code_of(sender=waiting, target=host) == "not_admitted"
    assert code_of(sender=None, target=host) == "not_admitted"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "state", [ParticipantState.WAITING, ParticipantState.DENIED, ParticipantState.REMOVED]
)
def test_a_target_who_is_not_admitted_is_no_such_participant(family_room, admitted_pair, state):
    client, _ = admitted_pair
    other = participant(family_room, family_room.test_family_user, state)
    assert code_of(sender=client, target=other) == "no_such_participant"


@pytest.mark.django_db
def test_an_unknown_target_or_oneself_is_no_such_participant(admitted_pair):
    client, _ = admitted_pair
    assert code_of(sender=client, target=None) == "no_such_participant"
    assert code_of(sender=client, target=client) == "no_such_participant"


@pytest.mark.django_db
def test_a_participant_of_another_room_is_no_such_participant(admitted_pair, therapist, make_user):
    from rooms import services

    client, _ = admitted_pair
    other_room = services.room_create(owner=therapist, kind="family_session", name="Other")
    stranger = make_user("sam")
    services.membership_add(actor=therapist, room=other_room, user=stranger, role="client")
    elsewhere = participant(other_room, stranger, ParticipantState.ADMITTED)
    assert code_of(sender=client, target=elsewhere) == "no_such_participant"
