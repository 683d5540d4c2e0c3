"""The Hearth domain: people, rooms, who belongs where, schedules, messages and the audit log.

Rules that change these rows live in rooms/services.py; reads live in rooms/selectors.py.
"""

from __future__ import annotations

import secrets
import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


def new_calendar_token() -> str:
    return secrets.token_urlsafe(24)


class StaffRole(models.TextChoices):
    NONE = "", "Not clinical staff"
    THERAPIST = "therapist", "Therapist"
    FACILITATOR = "facilitator", "Facilitator"


class User(AbstractUser):
    """A person: clinician, client or family member. Each has their own login (no shared
    family accounts), their own time zone and a private calendar-feed token."""

    # Therapists may create rooms; facilitators are made moderators of rooms by therapists.
    staff_role = models.CharField(max_length=12, choices=StaffRole.choices, blank=True, default="")
    display_name = models.CharField(max_length=80, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    calendar_token = models.CharField(max_length=64, unique=True, default=new_calendar_token)

    def public_name(self) -> str:
        return self.display_name or self.get_full_name() or self.username


class RoomKind(models.TextChoices):
    FAMILY_SESSION = "family_session", "Family session"
    SUPPORT_GROUP = "support_group", "Support group"
    PSYCHOEDUCATION = "psychoeducation", "Psychoeducation"
    CARE_THREAD = "care_thread", "Care thread"


class Role(models.TextChoices):
    THERAPIST = "therapist", "Therapist"
    FACILITATOR = "facilitator", "Facilitator"
    CLIENT = "client", "Client"
    FAMILY = "family", "Family member"
    OBSERVER = "observer", "Observer"


MODERATOR_ROLES: frozenset[str] = frozenset({Role.THERAPIST, Role.FACILITATOR})

DEFAULT_CAPACITY: dict[str, int] = {
    RoomKind.FAMILY_SESSION: 6,
    RoomKind.SUPPORT_GROUP: 20,
    RoomKind.PSYCHOEDUCATION: 50,
    RoomKind.CARE_THREAD: 12,
}


class Room(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=RoomKind.choices)
    name = models.CharField(max_length=120)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="owned_rooms")
    waiting_room_enabled = models.BooleanField(default=True)
    # Known members go straight in; only people who are not members yet wait.
    auto_admit_members = models.BooleanField(default=False)
    locked = models.BooleanField(default=False)
    capacity = models.PositiveSmallIntegerField(default=6)
    # The last chat seq handed out; incremented under a row lock so seq is gap-free.
    last_seq = models.BigIntegerField(default=0)
    # The live session: None while nobody has ended it; set by mod.end.
    ended_at = models.DateTimeField(null=True, blank=True)
    # mod.mute_all: applies to every non-moderator, including people admitted later.
    mute_all_audio = models.BooleanField(default=False)
    mute_all_video = models.BooleanField(default=False)
    mute_all_chat = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    display_name = models.CharField(max_length=80)
    # "mother", "brother", "grandparent"... shown to moderators in the lobby.
    relationship = models.CharField(max_length=60, blank=True)
    last_read_seq = models.BigIntegerField(default=0)
    banned_at = models.DateTimeField(null=True, blank=True)
    banned_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Care threads: when we last emailed this member about unread messages.
    last_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "room"], name="membership_unique_user_room")
        ]

    def __str__(self) -> str:
        return f"{self.display_name} in {self.room_id} as {self.role}"

    @property
    def is_moderator(self) -> bool:
        return self.role in MODERATOR_ROLES

    @property
    def participant_id(self) -> str:
        return f"p-{self.pk}"


class Invitation(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.FAMILY)
    relationship = models.CharField(max_length=60, blank=True)
    # Only the SHA-256 of the token is stored; the token itself is shown once.
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"invitation {self.pk} to {self.room_id} for {self.email}"


class Frequency(models.TextChoices):
    ONCE = "once", "One-off"
    WEEKLY = "weekly", "Weekly"
    FORTNIGHTLY = "fortnightly", "Every two weeks"


class Session(models.Model):
    """A schedule of a room: the first start as wall-clock time in the organiser's zone, so
    weekly occurrences keep their local time across daylight-saving changes."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="sessions")
    title = models.CharField(max_length=120, blank=True)
    starts_at_local = models.DateTimeField(help_text="Naive wall-clock start in time_zone")
    time_zone = models.CharField(max_length=64)
    duration_minutes = models.PositiveIntegerField(default=60)
    frequency = models.CharField(max_length=12, choices=Frequency.choices, default=Frequency.ONCE)
    until = models.DateField(null=True, blank=True)
    count = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=~(Q(until__isnull=False) & Q(count__isnull=False)),
                name="session_until_or_count",
            )
        ]

    def __str__(self) -> str:
        return f"{self.title or self.room.name} {self.frequency} from {self.starts_at_local}"


class WebsocketTicket(models.Model):
    """Single-use, short-lived credential for opening a websocket without a cookie."""

    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"ticket {self.pk} for {self.user_id} in {self.room_id}"


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()
    sender = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    client_msg_id = models.CharField(max_length=64)
    # Fernet token of the UTF-8 body; never the plaintext.
    body_encrypted = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_unique_room_seq"),
            models.UniqueConstraint(
                fields=["room", "sender", "client_msg_id"], name="message_unique_client_msg_id"
            ),
        ]
        ordering: ClassVar = ["room", "seq"]

    def __str__(self) -> str:
        return f"message {self.seq} in {self.room_id}"


class ParticipantState(models.TextChoices):
    WAITING = "waiting", "In the waiting room"
    ADMITTED = "admitted", "Admitted"
    DENIED = "denied", "Denied"
    REMOVED = "removed", "Removed"


class Participant(models.Model):
    """A member's live state in a room: admission, imposed mutes, own media, hand. Stored so
    that a reconnect, or landing on another instance, never loses it."""

    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="live")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    state = models.CharField(
        max_length=10, choices=ParticipantState.choices, default=ParticipantState.WAITING
    )
    waiting_since = models.DateTimeField(null=True, blank=True)
    admitted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Re-admission lease: back in without knocking until this time.
    lease_until = models.DateTimeField(null=True, blank=True)
    # Mutes imposed by a moderator (the person cannot lift them).
    imposed_audio_mute = models.BooleanField(default=False)
    imposed_video_mute = models.BooleanField(default=False)
    imposed_chat_mute = models.BooleanField(default=False)
    # Lifted for this one person by mod.unmute while a room-wide mod.mute_all stands.
    mute_all_exempt_audio = models.BooleanField(default=False)
    mute_all_exempt_video = models.BooleanField(default=False)
    mute_all_exempt_chat = models.BooleanField(default=False)
    # Set by deny, removal and return-to-lobby: only a moderator's admit lets them back in
    # (no automatic admission by room settings until then).
    moderator_hold = models.BooleanField(default=False)
    # The person's own media switches.
    audio_on = models.BooleanField(default=True)
    video_on = models.BooleanField(default=True)
    hand_raised_at = models.DateTimeField(null=True, blank=True)
    # Bumped on every change; lets clients and tests order participant.updated events.
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"participant {self.membership_id} {self.state}"


class Connection(models.Model):
    """One open websocket. Presence is derived from these rows: a person is online in a room
    while any of their connections is alive; a dead instance's rows are swept by the others."""

    channel_name = models.CharField(max_length=200, unique=True)
    instance_id = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="connections")
    connected_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"connection {self.channel_name} on {self.instance_id}"


class Instance(models.Model):
    """A daphne process that holds sockets; it refreshes heartbeat_at while alive."""

    instance_id = models.CharField(max_length=64, primary_key=True)
    heartbeat_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.instance_id


class Attendance(models.Model):
    """One stretch of presence of a person in a room (join to leave)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    admitted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reconnect = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id} from {self.joined_at}"


class AuditEvent(models.Model):
    """Append-only record of who did what to whom. Never carries message text."""

    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    target_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"
