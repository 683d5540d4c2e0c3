"""Django admin for clinic staff. Audit events and attendance are read-only: they are records."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from rooms.models import (
    Attendance,
    AuditEvent,
    Invitation,
    Membership,
    Room,
    Session,
    User,
)


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


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("room", "title", "starts_at_local", "time_zone", "frequency", "until", "count")
    list_filter = ("frequency",)


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
