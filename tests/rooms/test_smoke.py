from rooms.models import Membership


def test_a_therapist_who_creates_a_room_is_its_owner_and_first_member(family_room, therapist):
    membership = Membership.objects.get(room=family_room, user=therapist)
    assert family_room.owner == therapist
    assert membership.role == "therapist"
