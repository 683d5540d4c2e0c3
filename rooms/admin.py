"""Django admin for clinic staff. Audit events and attendance are read-only: they are records."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from rooms import services
from rooms.models import (
    Attendance,
    AuditEvent,
    Invitation,
    Membership,
    Room,
    Session,
    User,
)
from rooms.tokens import new_token, token_hash


@admin.register(User)
class HearthUserAdmin(UserAdmin):
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Hearth", {"fields": ("display_name", "time_zone", "staff_role")}),
    )
    list_display = ("username", "display_name", "email", "staff_role", "time_zone", "is_staff")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "display_name", "relationship", "banned_at")
    raw_id_fields = ("user",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "owner", "waiting_room_enabled", "locked", "capacity")
    list_filter = ("kind", "waiting_room_enabled", "locked")
    search_fields = ("name",)
    readonly_fields = ("id", "last_seq", "created_at", "updated_at")
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("display_name", "room", "role", "relationship", "banned_at")
    list_filter = ("role",)
    search_fields = ("display_name", "user__username", "room__name")
    raw_id_fields = ("user", "room", "banned_by")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "room", "role", "expires_at", "accepted_at", "revoked_at")
    list_filter = ("role",)
    search_fields = ("email", "room__name")
    # The hash is useless to a person and the token is never stored.
    exclude = ("token_hash",)
    readonly_fields = ("accepted_at", "accepted_by", "created_at", "created_by")

    def save_model(
        self, request: HttpRequest, obj: Invitation, form: ModelForm, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The form has no token: make one here, keep only its hash, and show the link once,
        # as the API does (otherwise the row would have no usable link and no creator).
        token = new_token()
        obj.token_hash = token_hash(token)
        obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
        services.audit_record(
            action="invitation.created",
            actor=request.user,  # type: ignore[arg-type]
            room=obj.room,
            target=f"invitation:{obj.pk}",
            details={"role": obj.role, "via": "admin"},
        )
        messages.warning(
            request,
            "Send this link now; it is shown only once: "
            f"{settings.PUBLIC_BASE_URL.rstrip('/')}/invite/{token}",
        )


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    """`starts_at_local` is a wall-clock time stored tagged as UTC (rooms/schedule.py), so the
    admin shows and reads it in UTC whatever the server's TIME_ZONE: what staff see and type
    is the organiser's local time in the row's `time_zone`."""

    list_display = ("room", "title", "starts_at_local", "time_zone", "frequency", "until", "count")
    list_filter = ("frequency",)
    raw_id_fields = ("created_by",)

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with timezone.override(UTC):
            return _rendered(super().changeform_view(request, *args, **kwargs))

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with timezone.override(UTC):
            return _rendered(super().changelist_view(request, *args, **kwargs))


def _rendered(response: HttpResponse) -> HttpResponse:
    """Render a TemplateResponse now, while the caller's time-zone override is active."""
    render = getattr(response, "render", None)
    if callable(render):
        render()
    return response


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor", "room", "target_user", "target")
    list_filter = ("action",)
    search_fields = ("action", "target", "actor__username")
    date_hierarchy = "created_at"


@admin.register(Attendance)
class AttendanceAdmin(ReadOnlyAdmin):
    list_display = ("room", "user", "joined_at", "left_at", "admitted_by", "reconnect")
    list_filter = ("room",)
