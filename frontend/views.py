"""Pages of the web client. Thin: each view checks who may see the page through rooms.selectors
or rooms.services and renders a template; the data that changes while the page is open comes
from the REST API and the websocket, fetched by the page's ES module.

Values reach the scripts through `data-` attributes (auto-escaped by the template engine),
never through inline script, so the Content-Security-Policy can forbid inline script entirely.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from rooms import selectors, services
from rooms.errors import DomainError, NotFound
from rooms.models import Membership, Room, RoomKind, User

SIGNIN_URL = "frontend:signin"


def _problem(request: HttpRequest, error: DomainError, *, title: str) -> HttpResponse:
    """A plain page that says what went wrong, with the domain's own sentence."""
    return render(
        request,
        "frontend/problem.html",
        {"title": title, "message": error.message, "code": error.code},
        status=error.status,
    )


def _safe_next(request: HttpRequest, default: str) -> str:
    """The `next` parameter if it points back into this site, else `default`."""
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _member_room(request: HttpRequest, room_id: str) -> tuple[Room, Membership]:
    """The room and the signed-in person's membership, or NotFound (also for rooms that exist
    but are not theirs, so a link cannot reveal that a room exists)."""
    user: User = request.user  # type: ignore[assignment]
    room = selectors.room_get_for_user(user=user, room_id=room_id)
    membership = selectors.membership_for(user=user, room=room)
    if membership is None:
        raise NotFound("No such room.")
    return room, membership


# --- getting in ----------------------------------------------------------------------------


@require_GET
def signin(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, reverse("frontend:home"))
    if request.user.is_authenticated:
        return HttpResponseRedirect(next_url)
    return render(request, "frontend/signin.html", {"next_url": next_url})


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        services.audit_record(action="auth.logout", actor=request.user)  # type: ignore[arg-type]
    logout(request)
    messages.info(request, "You have signed out.")
    return redirect(SIGNIN_URL)


@require_GET
def invite(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_check(token=token)
    except DomainError as error:
        return _problem(request, error, title="This invitation cannot be used")
    signed_in = request.user.is_authenticated
    return render(
        request,
        "frontend/invite.html",
        {
            "token": token,
            "room_name": invitation.room.name,
            "inviter_name": invitation.created_by.public_name(),
            "role": invitation.get_role_display(),
            "relationship": invitation.relationship,
            "email": invitation.email,
            "expires_at": invitation.expires_at,
            "signed_in": signed_in,
        },
    )


@login_required(login_url=SIGNIN_URL)
@require_GET
def join(request: HttpRequest, room_id: str) -> HttpResponse:
    """The personal join link: one tap from an email or a calendar entry to the pre-call
    check. Signing in first (if needed) comes back here through `?next=`."""
    try:
        room, _membership = _member_room(request, room_id)
    except DomainError as error:
        return _problem(request, error, title="This room is not available")
    return redirect("frontend:check", room_id=room.pk)


# --- signed-in pages -----------------------------------------------------------------------


@login_required(login_url=SIGNIN_URL)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/dashboard.html")


def _room_context(room: Room, membership: Membership) -> dict[str, Any]:
    return {
        "room": room,
        "room_id": str(room.pk),
        "membership": membership,
        "is_moderator": membership.is_moderator,
    }


@login_required(login_url=SIGNIN_URL)
@require_GET
def check(request: HttpRequest, room_id: str) -> HttpResponse:
    try:
        room, membership = _member_room(request, room_id)
    except DomainError as error:
        return _problem(request, error, title="This room is not available")
    return render(request, "frontend/check.html", _room_context(room, membership))


@login_required(login_url=SIGNIN_URL)
@require_GET
def room(request: HttpRequest, room_id: str) -> HttpResponse:
    try:
        found, membership = _member_room(request, room_id)
    except DomainError as error:
        return _problem(request, error, title="This room is not available")
    if found.kind == RoomKind.CARE_THREAD:
        return redirect("frontend:thread", room_id=found.pk)
    return render(request, "frontend/room.html", _room_context(found, membership))


@login_required(login_url=SIGNIN_URL)
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/inbox.html")


@login_required(login_url=SIGNIN_URL)
@require_GET
def thread(request: HttpRequest, room_id: str) -> HttpResponse:
    try:
        found, membership = _member_room(request, room_id)
    except DomainError as error:
        return _problem(request, error, title="This conversation is not available")
    if found.kind != RoomKind.CARE_THREAD:
        return redirect("frontend:room", room_id=found.pk)
    return render(request, "frontend/thread.html", _room_context(found, membership))
